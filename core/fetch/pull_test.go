package fetch

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// memFile is an io.WriterAt over a byte slice.
type memFile struct {
	mu  sync.Mutex
	buf []byte
}

func (m *memFile) WriteAt(p []byte, off int64) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if off < 0 || off+int64(len(p)) > int64(len(m.buf)) {
		return 0, fmt.Errorf("write of %d bytes at %d outside %d", len(p), off, len(m.buf))
	}
	return copy(m.buf[off:], p), nil
}

// counted wraps h and counts its requests.
func counted(h http.Handler, n *atomic.Int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		h.ServeHTTP(w, r)
	})
}

func noBackoff(int) time.Duration { return 0 }

func TestPullDownloadsExactly(t *testing.T) {
	t.Parallel()
	const size = 10 << 20
	const chunk = 384 << 10 // does not divide the size: the last chunk is short
	data := randomBytes(size, 10)
	var requests atomic.Int64
	srv := httptest.NewServer(counted(serveRange(data), &requests))
	defer srv.Close()

	var (
		mu     sync.Mutex
		hashes = map[int][32]byte{}
	)
	dst := &memFile{buf: make([]byte, size)}
	p := &Pull{
		URL: srv.URL + "/big", Client: newClient(t), Size: size, Chunk: chunk, Workers: 4, Dst: dst,
		OnChunk: func(c int, b []byte) error {
			mu.Lock()
			defer mu.Unlock()
			if _, dup := hashes[c]; dup {
				return fmt.Errorf("chunk %d twice", c)
			}
			hashes[c] = sha256.Sum256(b)
			return nil
		},
		Backoff: func(int) time.Duration { t.Error("retried a good origin"); return 0 },
	}
	if err := p.Run(t.Context()); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if !bytes.Equal(dst.buf, data) {
		t.Fatal("downloaded bytes differ from the origin's")
	}
	chunks := (size + chunk - 1) / chunk
	if p.Chunks() != chunks || len(hashes) != chunks || requests.Load() != int64(chunks) {
		t.Errorf("chunks %d, OnChunk calls %d, requests %d; want %d each", p.Chunks(), len(hashes), requests.Load(), chunks)
	}
	for c, h := range hashes {
		end := min((c+1)*chunk, size)
		if h != sha256.Sum256(data[c*chunk:end]) {
			t.Errorf("OnChunk(%d) saw other bytes than the chunk's", c)
		}
	}
	if p.Bytes() != size {
		t.Errorf("Bytes() = %d, want %d", p.Bytes(), size)
	}
}

func TestPullResumeSkipsHave(t *testing.T) {
	t.Parallel()
	const size, chunk = 1 << 20, 64 << 10
	data := randomBytes(size, 11)
	var requests atomic.Int64
	srv := httptest.NewServer(counted(serveRange(data), &requests))
	defer srv.Close()

	dst := &memFile{buf: make([]byte, size)}
	have := func(c int) bool { return c%2 == 0 }
	p := &Pull{URL: srv.URL, Client: newClient(t), Size: size, Chunk: chunk, Dst: dst, Have: have}
	if err := p.Run(t.Context()); err != nil {
		t.Fatalf("Run: %v", err)
	}
	chunks := size / chunk
	if got, want := requests.Load(), int64(chunks/2); got != want {
		t.Errorf("requests = %d, want %d (only the missing chunks)", got, want)
	}
	zero := make([]byte, chunk)
	for c := range chunks {
		got, want := dst.buf[c*chunk:(c+1)*chunk], data[c*chunk:(c+1)*chunk]
		if have(c) {
			want = zero
		}
		if !bytes.Equal(got, want) {
			t.Errorf("chunk %d (have %v): wrong bytes", c, have(c))
		}
	}
	if p.Bytes() != size/2 {
		t.Errorf("Bytes() = %d, want %d", p.Bytes(), size/2)
	}
}

// TestPullRetries gives every chunk two failed answers before a good one.
func TestPullRetries(t *testing.T) {
	t.Parallel()
	const size, chunk = 1<<20 + 100, 128 << 10
	data := randomBytes(size, 12)
	failures := []struct {
		name string
		fail func(w http.ResponseWriter, r *http.Request, off, end int64)
		// The transport itself retries a GET whose reused connection closed
		// before any answer, so not every failure reaches Pull.
		transportRetries bool
	}{
		{"503", func(w http.ResponseWriter, r *http.Request, off, end int64) {
			http.Error(w, "busy", http.StatusServiceUnavailable)
		}, false},
		{"429", func(w http.ResponseWriter, r *http.Request, off, end int64) {
			http.Error(w, "slow down", http.StatusTooManyRequests)
		}, false},
		{"short body", func(w http.ResponseWriter, r *http.Request, off, end int64) {
			n := end - off + 1
			w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", off, end, size))
			w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
			w.WriteHeader(http.StatusPartialContent)
			_, _ = w.Write(data[off : off+n/2])
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		}, false},
		{"connection dropped", func(w http.ResponseWriter, r *http.Request, off, end int64) {
			panic(http.ErrAbortHandler)
		}, true},
	}
	for _, f := range failures {
		t.Run(f.name, func(t *testing.T) {
			var (
				mu       sync.Mutex
				attempts = map[int64]int{} // by chunk
			)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				off, end := requestedRange(t, r)
				mu.Lock()
				attempts[off/chunk]++
				n := attempts[off/chunk]
				mu.Unlock()
				if n <= 2 {
					f.fail(w, r, off, end)
					return
				}
				serveRange(data)(w, r)
			}))
			defer srv.Close()

			var backoffs atomic.Int64
			dst := &memFile{buf: make([]byte, size)}
			p := &Pull{URL: srv.URL, Client: newClient(t), Size: size, Chunk: chunk, Dst: dst,
				Backoff: func(attempt int) time.Duration {
					if attempt < 1 || attempt > 2 {
						t.Errorf("back-off for attempt %d", attempt)
					}
					backoffs.Add(1)
					return 0
				}}
			if err := p.Run(t.Context()); err != nil {
				t.Fatalf("Run: %v", err)
			}
			if !bytes.Equal(dst.buf, data) {
				t.Fatal("downloaded bytes differ from the origin's")
			}
			chunks := p.Chunks()
			wantBackoffs := int64(2 * chunks)
			if f.transportRetries {
				wantBackoffs = min(backoffs.Load(), wantBackoffs)
			}
			if len(attempts) != chunks || backoffs.Load() != wantBackoffs {
				t.Errorf("chunks requested %d, back-offs %d; want %d, %d", len(attempts), backoffs.Load(), chunks, 2*chunks)
			}
			for c, n := range attempts {
				if n != 3 {
					t.Errorf("chunk %d: %d requests, want 3", c, n)
				}
			}
		})
	}
}

func TestPullGivesUp(t *testing.T) {
	t.Parallel()
	const size = 1000
	tests := []struct {
		name         string
		handler      http.HandlerFunc
		retries      int
		wantStatus   int
		wantRequests int64
	}{
		{"404 is final", http.NotFound, 3, 404, 1},
		{"403 is final", func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "no", http.StatusForbidden)
		}, 3, 403, 1},
		{"200 is final", func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write(make([]byte, size))
		}, 3, 200, 1},
		{"size changed is final", serveRange(make([]byte, size+1)), 3, 206, 1},
		{"503 until out of retries", func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "busy", http.StatusServiceUnavailable)
		}, 2, 503, 3},
		{"no retries", func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "busy", http.StatusServiceUnavailable)
		}, -1, 503, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var requests atomic.Int64
			srv := httptest.NewServer(counted(tt.handler, &requests))
			defer srv.Close()
			dst := &memFile{buf: make([]byte, size)}
			p := &Pull{URL: srv.URL, Client: newClient(t), Size: size, Chunk: 4096, Workers: 1, Dst: dst,
				Retries: tt.retries, Backoff: noBackoff}
			err := p.Run(t.Context())
			var se *SourceError
			if !errors.As(err, &se) || se.Status != tt.wantStatus {
				t.Fatalf("Run error = %v, want *SourceError with status %d", err, tt.wantStatus)
			}
			if requests.Load() != tt.wantRequests {
				t.Errorf("requests = %d, want %d", requests.Load(), tt.wantRequests)
			}
			if !bytes.Equal(dst.buf, make([]byte, size)) {
				t.Error("a failed answer reached the destination")
			}
		})
	}
}

// TestPullFailureCancelsOthers has one chunk fail for good while the others
// hang: Run must return that chunk's error, not wait for the rest.
func TestPullFailureCancelsOthers(t *testing.T) {
	t.Parallel()
	const chunk = 1024
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if off, _ := requestedRange(t, r); off/chunk == 2 {
			http.NotFound(w, r)
			return
		}
		<-r.Context().Done()
	}))
	defer srv.Close()
	p := &Pull{URL: srv.URL, Client: newClient(t), Size: 4 * chunk, Chunk: chunk, Workers: 4,
		Dst: &memFile{buf: make([]byte, 4*chunk)}, Backoff: noBackoff}
	err := p.Run(t.Context())
	var se *SourceError
	if !errors.As(err, &se) || se.Status != 404 {
		t.Fatalf("Run error = %v, want the 404 of chunk 2", err)
	}
}

func TestPullContextCanceled(t *testing.T) {
	t.Parallel()
	arrived := make(chan struct{}, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-r.Context().Done()
	}))
	defer srv.Close()
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		<-arrived
		cancel()
	}()
	p := &Pull{URL: srv.URL, Client: newClient(t), Size: 4096, Chunk: 1024, Workers: 4,
		Dst: &memFile{buf: make([]byte, 4096)}, Backoff: noBackoff}
	if err := p.Run(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run error = %v, want context.Canceled", err)
	}
}

func TestPullNextOrder(t *testing.T) {
	t.Parallel()
	const size, chunk = 10 * 1000, 1000
	data := randomBytes(size, 13)
	var (
		mu   sync.Mutex
		seen []int64
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		off, _ := requestedRange(t, r)
		mu.Lock()
		seen = append(seen, off/chunk)
		mu.Unlock()
		serveRange(data)(w, r)
	}))
	defer srv.Close()

	order := []int{7, 3, 9, 0, 5, 3} // 3 again: already present by then
	var written []int
	dst := &memFile{buf: make([]byte, size)}
	p := &Pull{URL: srv.URL, Client: newClient(t), Size: size, Chunk: chunk, Workers: 1, Dst: dst,
		Have: func(c int) bool { return c == 9 || slices.Contains(written, c) },
		Next: func() (int, bool) {
			if len(order) == 0 {
				return 0, false
			}
			c := order[0]
			order = order[1:]
			return c, true
		},
		OnChunk: func(c int, _ []byte) error { written = append(written, c); return nil },
	}
	if err := p.Run(t.Context()); err != nil {
		t.Fatalf("Run: %v", err)
	}
	want := []int64{7, 3, 0, 5}
	if fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Errorf("requested chunks %v, want %v", seen, want)
	}
	for _, c := range want {
		if !bytes.Equal(dst.buf[c*chunk:(c+1)*chunk], data[c*chunk:(c+1)*chunk]) {
			t.Errorf("chunk %d: wrong bytes", c)
		}
	}
}

func TestPullLocalErrors(t *testing.T) {
	t.Parallel()
	data := randomBytes(4096, 14)
	srv := httptest.NewServer(serveRange(data))
	defer srv.Close()
	boom := errors.New("boom")
	tests := []struct {
		name    string
		p       *Pull
		wantErr error // nil: any error
	}{
		{"no URL", &Pull{Size: 1, Chunk: 1, Dst: &memFile{}}, nil},
		{"no destination", &Pull{URL: srv.URL, Size: 1, Chunk: 1}, nil},
		{"zero chunk", &Pull{URL: srv.URL, Size: 1, Dst: &memFile{}}, nil},
		{"negative size", &Pull{URL: srv.URL, Size: -1, Chunk: 1, Dst: &memFile{}}, nil},
		{"next out of range", &Pull{URL: srv.URL, Size: 4096, Chunk: 1024, Dst: &memFile{buf: make([]byte, 4096)},
			Next: func() (int, bool) { return 4, true }}, nil},
		{"OnChunk fails", &Pull{URL: srv.URL, Size: 4096, Chunk: 1024, Dst: &memFile{buf: make([]byte, 4096)},
			OnChunk: func(int, []byte) error { return boom }}, boom},
		{"write fails", &Pull{URL: srv.URL, Size: 4096, Chunk: 1024, Dst: &memFile{}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.p.Client = newClient(t)
			tt.p.Backoff = noBackoff
			err := tt.p.Run(t.Context())
			if err == nil || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) {
				t.Errorf("Run error = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestPullEmptyFile(t *testing.T) {
	t.Parallel()
	p := &Pull{URL: closedURL(t), Size: 0, Chunk: 1024, Dst: &memFile{}}
	if err := p.Run(t.Context()); err != nil {
		t.Errorf("Run of an empty file = %v, want nil", err)
	}
}

func TestDefaultBackoff(t *testing.T) {
	t.Parallel()
	prevMax := time.Duration(0)
	for attempt := 1; attempt <= 20; attempt++ {
		d := DefaultBackoff(attempt)
		if d <= 0 || d > 10*time.Second {
			t.Errorf("DefaultBackoff(%d) = %v, want in (0, 10s]", attempt, d)
		}
		ceiling := min(200*time.Millisecond<<min(attempt-1, 10), 10*time.Second)
		if d < ceiling/2 || d > ceiling {
			t.Errorf("DefaultBackoff(%d) = %v, want in [%v, %v]", attempt, d, ceiling/2, ceiling)
		}
		if ceiling < prevMax {
			t.Errorf("ceiling shrank at attempt %d", attempt)
		}
		prevMax = ceiling
	}
}
