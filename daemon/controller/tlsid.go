package controller

import "net/http"

// hostFromTLS answers the host name inside the client certificate the TLS layer verified against
// the controller's CA: the only place a host's identity comes from when TLS is on. The CA signs
// client certificates for hosts only (pki.IssueHost); the controller's serving certificate is for
// server use and never verifies as a client's.
func hostFromTLS(r *http.Request) (string, bool) {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
		return "", false
	}
	name := r.TLS.VerifiedChains[0][0].Subject.CommonName
	return name, name != ""
}
