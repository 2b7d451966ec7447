package fetch

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeGate admits up to conns requests, counts what it was asked, and asks once to be asked again.
type fakeGate struct {
	conns   chan struct{}
	size    int64
	mu      sync.Mutex
	waited  int64
	retried bool
	seen    map[int]int // statuses observed
}

func newFakeGate(conns int, size int64) *fakeGate {
	return &fakeGate{conns: make(chan struct{}, conns), size: size, seen: map[int]int{}}
}

func (g *fakeGate) Conn(ctx context.Context) (func(), error) {
	select {
	case g.conns <- struct{}{}:
		return func() { <-g.conns }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (g *fakeGate) Wait(_ context.Context, n int) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.retried {
		g.retried = true
		return fmt.Errorf("lease shrank: %w", ErrRetry)
	}
	g.waited += int64(n)
	return nil
}

func (g *fakeGate) Observe(status int, _ time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.seen[status]++
}

func (g *fakeGate) RequestSize() int64 { return g.size }

func TestPullThroughGate(t *testing.T) {
	t.Parallel()
	const size, chunk, reqSize = 3 << 20, 1 << 20, 256 << 10
	data := randomBytes(size, 3)
	var inFlight, peak, biggest atomic.Int64
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cur := inFlight.Add(1)
		defer inFlight.Add(-1)
		for p := peak.Load(); cur > p && !peak.CompareAndSwap(p, cur); p = peak.Load() {
		}
		if n.Add(1)%5 == 0 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		var a, b int64
		fmt.Sscanf(strings.TrimPrefix(r.Header.Get("Range"), "bytes="), "%d-%d", &a, &b)
		for m := biggest.Load(); b-a+1 > m && !biggest.CompareAndSwap(m, b-a+1); m = biggest.Load() {
		}
		serveRange(data).ServeHTTP(w, r)
	}))
	defer srv.Close()
	g := newFakeGate(2, reqSize)
	dst := &memFile{buf: make([]byte, size)}
	p := &Pull{URL: srv.URL + "/f", Client: newClient(t), Size: size, Chunk: chunk, Workers: 4, Dst: dst, Gate: g,
		Retries: 10, Backoff: noBackoff}
	if err := p.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(dst.buf, data) {
		t.Fatal("pulled bytes differ from the source")
	}
	if peak.Load() > 2 {
		t.Errorf("%d requests in flight through a gate of 2", peak.Load())
	}
	if biggest.Load() > reqSize {
		t.Errorf("a request asked for %d bytes; the gate allows %d", biggest.Load(), reqSize)
	}
	// Every byte asked for was waited for: the ones delivered, and those of the refused answers.
	if g.waited < size {
		t.Errorf("waited for %d bytes of %d", g.waited, size)
	}
	if g.seen[206] == 0 || g.seen[503] == 0 {
		t.Errorf("gate observed %v; want 206 and 503 answers", g.seen)
	}
}

func TestGetRangeThroughGate(t *testing.T) {
	t.Parallel()
	data := randomBytes(1<<20, 4)
	srv := httptest.NewServer(serveRange(data))
	defer srv.Close()
	g := newFakeGate(1, 100<<10)
	var buf bytes.Buffer
	got, err := GetRange(context.Background(), newClient(t), srv.URL+"/f", 1000, 500<<10, &buf, g)
	if err != nil || got != 500<<10 || !bytes.Equal(buf.Bytes(), data[1000:1000+500<<10]) {
		t.Fatalf("GetRange through a gate: %d bytes, %v", got, err)
	}
	if g.seen[206] != 5 {
		t.Errorf("observed %v; want 5 answers of at most 100 KiB", g.seen)
	}
}
