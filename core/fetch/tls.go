package fetch

import (
	"crypto/tls"
	"net/http"
)

// TLSConfig answers the TLS settings of c's transport (nil when it has none): a caller building a
// transport of its own beside c (other limits, other timeouts) trusts and presents what c does.
func TLSConfig(c *http.Client) *tls.Config {
	if c == nil {
		return nil
	}
	if t, ok := c.Transport.(*http.Transport); ok && t.TLSClientConfig != nil {
		return t.TLSClientConfig.Clone()
	}
	return nil
}
