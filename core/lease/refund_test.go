package lease_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"dist/core/api"
	"dist/core/fetch"
	"dist/core/lease"
	"dist/daemon/demo/origin"
)

// TestFailedAttemptsCostNoBudget: a pull through a real lease and controller meets ten 503s; the
// controller counts as spent exactly the bytes the origin served, and those are the file's (before
// refunds every 503 cost a whole request's bytes).
func TestFailedAttemptsCostNoBudget(t *testing.T) {
	t.Parallel()
	const (
		fileSize = 2 << 20
		chunk    = 256 << 10
	)
	ctl := newCtl(t, 2*time.Second)
	org := startOrigin(t, fileSize, origin.ModeNormal, 0)
	ctl.setPolicy(api.OriginUpdate{Origin: org.URL(), MaxConns: ptr(2), MaxRate: ptr(int64(16 << 20)),
		MaxBytes: ptr(int64(64 << 20)), WindowS: ptr(int64(3600))})
	org.Fail(origin.Fault{Status: http.StatusServiceUnavailable, Count: 10})

	g := lease.New(lease.Config{Controller: ctl.host(), Origin: org.URL(), Holder: "h", Conns: 2})
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	p := &fetch.Pull{URL: org.URL(), Client: client, Size: fileSize, Chunk: chunk, Workers: 2, Dst: discard{}, Gate: g,
		Retries: 20, Backoff: func(int) time.Duration { return time.Millisecond }}
	if err := p.Run(ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}
	admitted := g.State().Bytes
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	served := org.Stats().BytesServed
	st := ctl.status(org.URL())
	t.Logf("origin answered %v; served %d bytes, controller counts %d spent, gate admitted %d",
		org.StatusCounts(), served, st.Spent, admitted)
	if n := org.StatusCounts()[http.StatusServiceUnavailable]; n != 10 {
		t.Errorf("origin answered %d 503s, want 10", n)
	}
	if served != fileSize || st.Spent != served || admitted != served {
		t.Errorf("origin served %d bytes of a %d-byte file; controller counts %d spent, gate admitted %d: "+
			"want all equal", served, fileSize, st.Spent, admitted)
	}
}
