package serve

import "testing"

// FuzzRangeStart: any Range header a client sends gives an offset inside the file, or the size
// (nothing to wait for).
func FuzzRangeStart(f *testing.F) {
	for _, h := range []string{"", "bytes=0-", "bytes=100-199", "bytes=-500", "bytes=5-1,7-9", "bytes=abc", "items=0-1", "bytes=-0"} {
		f.Add(h, int64(1000))
	}
	f.Fuzz(func(t *testing.T, h string, size int64) {
		if size < 0 {
			return
		}
		if got := rangeStart(h, size); got < 0 {
			t.Fatalf("rangeStart(%q, %d) = %d", h, size, got)
		}
	})
}
