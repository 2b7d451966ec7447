package daemon_test

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"dist/core/api"
	"dist/daemon"
)

// corruptRelay answers every range request with upstream's answer spoiled in turn three ways: one
// byte flipped (status, Content-Range and length look right, only the hash fails), the body cut
// short, and a 200 carrying the bytes as if the Range header had been ignored.
type corruptRelay struct {
	*httptest.Server
	served atomic.Int64 // range answers spoiled
}

// It fetches from upstream as the host whose TLS is given (a member of the distribution: a host
// serves content only to those).
func newCorruptRelay(t *testing.T, upstream string, as *tls.Config) *corruptRelay {
	t.Helper()
	c := &corruptRelay{}
	client := &http.Client{Timeout: time.Minute, Transport: &http.Transport{TLSClientConfig: as}}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, err := http.NewRequestWithContext(r.Context(), r.Method, upstream+r.URL.RequestURI(), nil)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		req.Header = r.Header.Clone()
		resp, err := client.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		status := resp.StatusCode
		if status == http.StatusPartialContent && len(body) > 1 {
			switch c.served.Add(1) % 3 {
			case 0:
				body[0] ^= 0xff
			case 1:
				body = body[:len(body)/2]
				w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			case 2:
				status = http.StatusOK
				w.Header().Del("Content-Range")
			}
		}
		w.WriteHeader(status)
		_, _ = w.Write(body)
	}))
	t.Cleanup(c.Close)
	return c
}

func TestTaskTimeout(t *testing.T) {
	t.Parallel()
	f := newFleet(t)
	push, _ := hybridSource(t, f, 4<<20, 14)
	f.start("relay-1", []api.Role{api.RoleRelay}, nil)
	// BitTorrent blocked and HTTP assist off: the client cannot progress, and its timeout fails it.
	f.start("stuck", []api.Role{api.RoleClient}, nil, btBlocked, noExchange, func(c *daemon.Config) {
		c.Hybrid = api.Settings{NoAssist: true, TimeoutMs: 1500}
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	f.waitHosts(ctx, 3)
	d, err := f.admin.CreateDistribution(ctx, push)
	if err != nil {
		t.Fatal(err)
	}
	d = f.waitEnded(ctx, d.ID)
	a := assignmentsByHost(d)["stuck"]
	if d.State != api.DistFailed || a.State != api.TaskFailed || !strings.Contains(a.Error, "task timeout of 1.5s") {
		t.Fatalf("distribution %s, client %s (%q); want failed by the task timeout", d.State, a.State, a.Error)
	}
}

// sleepOrDone waits d and reports whether ctx is still live.
func sleepOrDone(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}
