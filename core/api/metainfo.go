package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// PeerMetainfoPath is a daemon's route of a metainfo it holds, by the SHA-256 of its bytes: a
// host fetches the metainfo the watch names from its relay, so that a fleet woken at once does not
// fetch it from the controller thousands of times. The sum makes any source as good as another.
const PeerMetainfoPath = "/v1/swarm/metainfo/"

// FetchPeerMetainfo fetches the metainfo whose bytes hash to sum from the daemon at base.
func FetchPeerMetainfo(ctx context.Context, hc *http.Client, base, sum string) ([]byte, error) {
	u := strings.TrimRight(base, "/") + PeerMetainfoPath + url.PathEscape(sum)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("metainfo %s from %s: %w", sum, base, err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("metainfo %s from %s: %w", sum, base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("metainfo %s from %s: %s", sum, base, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxMetainfo+1))
	if err != nil {
		return nil, fmt.Errorf("metainfo %s from %s: %w", sum, base, err)
	}
	if err := checkMetainfo(b, sum, base); err != nil {
		return nil, err
	}
	return b, nil
}

// checkMetainfo checks bytes read (at most maxMetainfo+1 of them) from who against the sum that
// names them.
func checkMetainfo(b []byte, sum, who string) error {
	if len(b) > maxMetainfo {
		return fmt.Errorf("metainfo %s from %s is larger than %d bytes", sum, who, maxMetainfo)
	}
	if got := sha256.Sum256(b); hex.EncodeToString(got[:]) != sum {
		return fmt.Errorf("metainfo %s: %s sent bytes with another SHA-256", sum, who)
	}
	return nil
}
