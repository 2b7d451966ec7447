package lowat

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Answers of every length around the mark, big ones and refusals, one after the other on the
// same connections: each is read whole and at once, none waits for bytes that never come, and
// the mark went up for the long ones.
func TestAnswersEndWhateverTheirLength(t *testing.T) {
	t.Parallel()
	data := make([]byte, 1<<20)
	for i := range data {
		data[i] = byte(i * 7)
	}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.Atoi(r.URL.Query().Get("n"))
		if err != nil {
			http.Error(w, "no such piece", http.StatusNotFound) // a short answer, not awaited
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(n))
		for off := 0; off < n; off += 4 << 10 { // in small writes, as packets come
			_, _ = w.Write(data[off:min(off+4<<10, n)])
			w.(http.Flusher).Flush()
		}
	}))
	t.Cleanup(srv.Close)
	var mu sync.Mutex
	var conns []*Conn
	dial := Dial(&net.Dialer{})
	tr := srv.Client().Transport.(*http.Transport).Clone()
	tr.MaxConnsPerHost = 2 // few connections: every one carries many answers
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err == nil {
			mu.Lock()
			conns = append(conns, c.(*Conn))
			mu.Unlock()
		}
		return c, err
	}
	client := &http.Client{Transport: tr}
	sizes := []int{0, 1, 100, Batch - 1, Batch, Batch + 1, 2 * Batch, 256 << 10, 1 << 20, -1, 3*Batch + 17}
	for round := range 3 {
		for _, n := range sizes {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			var h Hook
			url := srv.URL + "/?n=" + strconv.Itoa(n)
			if n < 0 {
				url = srv.URL + "/"
			}
			req, err := http.NewRequestWithContext(Trace(ctx, &h), http.MethodGet, url, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatalf("round %d, %d bytes: %v", round, n, err)
			}
			if n >= 0 {
				h.Expect(int64(n))
			}
			got, err := io.ReadAll(resp.Body)
			h.Done()
			resp.Body.Close()
			cancel()
			if err != nil {
				t.Fatalf("round %d, %d bytes: %v (a read waited for bytes that never came?)", round, n, err)
			}
			if n >= 0 && !bytes.Equal(got, data[:n]) {
				t.Fatalf("round %d: %d bytes read of %d, or different ones", round, len(got), n)
			}
		}
	}
	if !supported {
		return
	}
	raised := 0
	mu.Lock()
	for _, c := range conns {
		c.mu.Lock()
		raised += c.raised
		c.mu.Unlock()
	}
	mu.Unlock()
	if raised == 0 {
		t.Error("the mark never went up: the long answers were read a packet at a time")
	}
}
