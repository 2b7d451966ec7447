package fetch

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// Holes are never asked of the origin nor written to Dst, and read as zeros in OnChunk: a hole
// inside a chunk splits its request, a chunk that is all holes costs no request.
func TestPullSkipsHoles(t *testing.T) {
	t.Parallel()
	const size, chunk = 1 << 20, 256 << 10
	data := randomBytes(size, 12)
	holes := map[int][]Span{
		0: {{16 << 10, 32 << 10}, {200 << 10, 56 << 10}}, // inside, and to the chunk's end
		1: {{256 << 10, 256 << 10}},                      // the whole chunk
		3: {{700 << 10, 100 << 10}},                      // starts in chunk 2, clipped to chunk 3
	}
	holes[2] = holes[3]
	var want int64 = size
	hole := make([]bool, size)
	for _, hs := range []Span{holes[0][0], holes[0][1], holes[1][0], holes[3][0]} {
		want -= hs.Len
		for i := hs.Off; i < hs.Off+hs.Len; i++ {
			hole[i] = true
		}
	}
	var (
		mu     sync.Mutex
		served int64
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		off, end := requestedRange(t, r)
		mu.Lock()
		for i := off; i <= end && i < size; i++ {
			if hole[i] {
				t.Errorf("byte %d of a hole asked of the origin", i)
				break
			}
		}
		served += end - off + 1
		mu.Unlock()
		serveRange(data)(w, r)
	}))
	defer srv.Close()
	dst := &memFile{buf: bytes.Repeat([]byte{0xa5}, size)}
	p := &Pull{
		URL: srv.URL, Client: newClient(t), Size: size, Chunk: chunk, Dst: dst,
		Holes: func(c int) []Span { return holes[c] },
		OnChunk: func(c int, b []byte) error {
			for i, v := range b {
				if off := c*chunk + i; hole[off] && v != 0 || !hole[off] && v != data[off] {
					return fmt.Errorf("byte %d of chunk %d is %#x", i, c, v)
				}
			}
			return nil
		},
	}
	if err := p.Run(t.Context()); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if p.Bytes() != want || served != want {
		t.Errorf("%d bytes pulled, %d served, want %d (the file less its holes)", p.Bytes(), served, want)
	}
	for i := range size {
		if w := data[i]; hole[i] && dst.buf[i] != 0xa5 || !hole[i] && dst.buf[i] != w {
			t.Fatalf("byte %d of Dst is %#x (hole %v)", i, dst.buf[i], hole[i])
		}
	}
}
