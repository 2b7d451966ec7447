package fetch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// leaseGate is a Gate shaped like the origin lease: the context of each admission ends when its
// connection is given back, and it counts the bytes it charged and those refunded to it.
type leaseGate struct {
	mu       sync.Mutex
	charged  int64
	refunded int64
	held     int // connections taken and not given back
	badOrder bool
}

func (g *leaseGate) Conn(ctx context.Context) (func(), error) {
	_, release, err := g.ConnContext(ctx)
	return release, err
}

func (g *leaseGate) ConnContext(ctx context.Context) (context.Context, func(), error) {
	rctx, cancel := context.WithCancel(ctx)
	g.mu.Lock()
	g.held++
	g.mu.Unlock()
	var once sync.Once
	return rctx, func() {
		once.Do(func() {
			cancel()
			g.mu.Lock()
			g.held--
			g.mu.Unlock()
		})
	}, nil
}

func (g *leaseGate) Wait(_ context.Context, n int) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.charged += int64(n)
	return nil
}

func (g *leaseGate) Refund(n int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.held == 0 {
		g.badOrder = true // refunded after the connection was given back
	}
	g.refunded += int64(n)
}

func (g *leaseGate) net() (charged, refunded int64, badOrder bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.charged, g.refunded, g.badOrder
}

// TestGateAdmissionDoesNotHideErrors reproduces the retry storm: with a gate whose admission
// context ends on release, every error looked like "the gate ended the admission" and was
// retried at once, for ever. A 404 must now cost one request, and 503s exactly Retries+1.
func TestGateAdmissionDoesNotHideErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		status       int
		wantRequests int64
	}{
		{http.StatusNotFound, 1},
		{http.StatusGone, 1},
		{http.StatusServiceUnavailable, 3},
	} {
		t.Run(strconv.Itoa(tc.status), func(t *testing.T) {
			t.Parallel()
			var requests atomic.Int64
			srv := httptest.NewServer(counted(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, "no", tc.status)
			}), &requests))
			defer srv.Close()
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			g := &leaseGate{}
			p := &Pull{URL: srv.URL, Client: newClient(t), Size: 4096, Chunk: 4096, Workers: 1,
				Dst: &memFile{buf: make([]byte, 4096)}, Gate: g, Retries: 2, Backoff: noBackoff}
			err := p.Run(ctx)
			var se *SourceError
			if !errors.As(err, &se) || se.Status != tc.status || ctx.Err() != nil {
				t.Fatalf("Pull.Run = %v, want the origin's %d", err, tc.status)
			}
			if n := requests.Load(); n != tc.wantRequests {
				t.Errorf("Pull sent %d requests, want %d", n, tc.wantRequests)
			}

			requests.Store(0)
			_, err = GetRange(ctx, newClient(t), srv.URL, 0, 4096, &bytes.Buffer{}, g)
			if !errors.As(err, &se) || se.Status != tc.status || ctx.Err() != nil {
				t.Fatalf("GetRange = %v, want the origin's %d", err, tc.status)
			}
			if n := requests.Load(); n != 1 {
				t.Errorf("GetRange sent %d requests, want 1", n)
			}
			if charged, refunded, bad := g.net(); charged != refunded || bad {
				t.Errorf("gate charged %d and was refunded %d (after release: %v); error answers must cost nothing",
					charged, refunded, bad)
			}
		})
	}
}

// TestBudgetChargesOnlyBytesReceived: through 503s and bodies cut short, what the gate charged
// less what was refunded is exactly what came from the origin.
func TestBudgetChargesOnlyBytesReceived(t *testing.T) {
	t.Parallel()
	const size, chunk = 1<<20 + 100, 128 << 10
	data := randomBytes(size, 21)
	var (
		mu       sync.Mutex
		attempts = map[int64]int{}
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		off, end := requestedRange(t, r)
		mu.Lock()
		attempts[off]++
		n := attempts[off]
		mu.Unlock()
		switch {
		case n == 1:
			w.Header().Set("Retry-After", "0")
			http.Error(w, "busy", http.StatusServiceUnavailable)
		case n == 2 && end-off+1 > 1000:
			// Half the body, then the origin drops the connection.
			k := (end - off + 1) / 2
			w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", off, end, size))
			w.Header().Set("Content-Length", strconv.FormatInt(end-off+1, 10))
			w.WriteHeader(http.StatusPartialContent)
			_, _ = w.Write(data[off : off+k])
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		default:
			serveRange(data)(w, r)
		}
	}))
	defer srv.Close()
	g := &leaseGate{}
	dst := &memFile{buf: make([]byte, size)}
	p := &Pull{URL: srv.URL, Client: newClient(t), Size: size, Chunk: chunk, Workers: 3, Dst: dst, Gate: g,
		Retries: 20, Backoff: noBackoff} // every new offset draws a 503 and a short body first
	if err := p.Run(t.Context()); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if !bytes.Equal(dst.buf, data) {
		t.Fatal("pulled bytes differ from the origin's")
	}
	charged, refunded, bad := g.net()
	t.Logf("charged %d, refunded %d, received %d, file %d", charged, refunded, p.Bytes(), size)
	if charged-refunded != p.Bytes() || p.Bytes() != size {
		t.Errorf("gate charged %d net (%d - %d refunded); %d bytes came, the file has %d",
			charged-refunded, charged, refunded, p.Bytes(), size)
	}
	if refunded == 0 || bad {
		t.Errorf("refunded %d (after release: %v); want the failed answers refunded while held", refunded, bad)
	}
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		value string
		want  time.Duration
	}{
		{"", 0},
		{"1", time.Second},
		{"0", 0},
		{"-3", 0},
		{"120", 2 * time.Minute},
		{"99999999999", MaxRetryAfter},
		{now.Add(30 * time.Second).Format(http.TimeFormat), 30 * time.Second},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0},
		{now.Add(48 * time.Hour).Format(http.TimeFormat), MaxRetryAfter},
		{"soon", 0},
	} {
		h := http.Header{}
		if tc.value != "" {
			h.Set("Retry-After", tc.value)
		}
		if got := retryAfter(h, now); got != tc.want {
			t.Errorf("Retry-After %q = %s, want %s", tc.value, got, tc.want)
		}
	}
}

func TestValidatorDiffers(t *testing.T) {
	t.Parallel()
	const date1, date2 = "Mon, 02 Jan 2006 15:04:05 GMT", "Mon, 02 Jan 2006 15:04:06 GMT"
	for _, tc := range []struct {
		name          string
		pinned, got   Validator
		wantDifferent bool
	}{
		{"same strong", Validator{ETag: `"a"`, LastModified: date1}, Validator{ETag: `"a"`, LastModified: date2}, false},
		{"strong changed", Validator{ETag: `"a"`}, Validator{ETag: `"b"`}, true},
		{"strong dropped", Validator{ETag: `"a"`}, Validator{}, true},
		{"weak same", Validator{ETag: `W/"a"`, LastModified: date1}, Validator{ETag: `"a"`, LastModified: date1}, false},
		{"weak date changed", Validator{ETag: `W/"a"`, LastModified: date1}, Validator{ETag: `W/"a"`, LastModified: date2}, true},
		{"date only same", Validator{LastModified: date1}, Validator{LastModified: date1}, false},
		{"date only changed", Validator{LastModified: date1}, Validator{LastModified: date2}, true},
		{"none", Validator{}, Validator{ETag: `"x"`}, false},
	} {
		if got := differs(tc.pinned, tc.got) != ""; got != tc.wantDifferent {
			t.Errorf("%s: differs = %v, want %v", tc.name, got, tc.wantDifferent)
		}
	}
}
