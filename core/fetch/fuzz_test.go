package fetch

import "testing"

// FuzzParseContentRange: a server's Content-Range header never panics the parser, and what it
// accepts is a range that makes sense.
func FuzzParseContentRange(f *testing.F) {
	for _, s := range []string{"bytes 0-0/1", "bytes 100-199/1000", "bytes */1000", "bytes 0-9/*", "bytes 9-0/10", "bytes -1-2/3", "items 0-1/2", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		first, last, total, ok := parseContentRange(s)
		if !ok {
			return
		}
		if first == -1 && last == -1 {
			if total < 0 {
				t.Fatalf("%q: unsatisfied range without a total", s)
			}
			return
		}
		if first < 0 || last < first || (total >= 0 && last >= total) {
			t.Fatalf("%q accepted as %d-%d/%d", s, first, last, total)
		}
	})
}
