package swarm

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"
)

// FuzzRecord: a piece record file of any content (a torn write, another program's file) opens
// as a valid record or as a fresh one, never a panic; and pieces it calls complete are in range.
func FuzzRecord(f *testing.F) {
	dir := f.TempDir()
	seed := filepath.Join(dir, "seed.pieces")
	r, err := OpenRecord(slog.Default(), seed, 4, [20]byte{}, func() error { return nil })
	if err != nil {
		f.Fatal(err)
	}
	r.MarkComplete(1, make([]byte, 20))
	r.Close()
	b, _ := os.ReadFile(seed)
	f.Add(b, 4)
	f.Add([]byte("dist-pr2"), 1)
	f.Fuzz(func(t *testing.T, b []byte, n int) {
		if n < 0 || n > 1<<12 {
			return
		}
		path := filepath.Join(t.TempDir(), "r.pieces")
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		r, err := OpenRecord(slog.New(slog.DiscardHandler), path, n, [20]byte{}, func() error { return nil })
		if err != nil {
			return
		}
		defer r.Close()
		for _, i := range r.missing() {
			if i < 0 || i >= n {
				t.Fatalf("missing piece %d of %d", i, n)
			}
		}
		if p, _ := r.counts(16, int64(n)*16); p > n {
			t.Fatalf("%d complete pieces of %d", p, n)
		}
	})
}
