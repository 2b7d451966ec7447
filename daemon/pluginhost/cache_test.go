package pluginhost

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"testing"
)

func TestIsPluginURI(t *testing.T) {
	for s, want := range map[string]bool{
		"partition:///dev/sdb1": true,
		"images://host/a":       true,
		"/srv/a.img":            false,
		`C:\images\a.img`:       false,
		"http://origin/a.img":   false,
		"https://origin/a.img":  false,
		"file:///srv/a.img":     false,
		"relative/partition:/x": false,
		"partition:/dev/sdb1":   false,
	} {
		if got := IsURI(s); got != want {
			t.Errorf("IsURI(%q) = %v, want %v", s, got, want)
		}
	}
}

// TestBlockCache checks the cache never answers bytes older than the last write, and reads
// whole blocks once.
func TestBlockCache(t *testing.T) {
	const size = 3*cacheBlock + 100
	dev := make([]byte, size)
	for i := range dev {
		dev[i] = byte(i * 7)
	}
	fetches := 0
	fetch := func(b []byte, off int64) (int, error) {
		fetches++
		n := copy(b, dev[off:])
		if n < len(b) {
			return n, io.EOF
		}
		return n, nil
	}
	c := newBlockCache()
	read := func(off int64, n int) []byte {
		t.Helper()
		b := make([]byte, n)
		got, err := c.readAt(b, off, size, fetch)
		if err != nil && !(errors.Is(err, io.EOF) && off+int64(n) > size) {
			t.Fatalf("read %d at %d: %v", n, off, err)
		}
		return b[:got]
	}
	for off := int64(0); off < 2*cacheBlock; off += 16 << 10 {
		if got := read(off, 16<<10); !bytes.Equal(got, dev[off:off+16<<10]) {
			t.Fatalf("read at %d differs", off)
		}
	}
	if fetches != 2 {
		t.Fatalf("%d fetches for two blocks of small reads, want 2", fetches)
	}
	// A read across a block boundary and one at the end.
	if got := read(cacheBlock-10, 20); !bytes.Equal(got, dev[cacheBlock-10:cacheBlock+10]) {
		t.Fatal("read across blocks differs")
	}
	if got := read(size-50, 100); !bytes.Equal(got, dev[size-50:]) {
		t.Fatal("read at the end differs")
	}
	// A write makes the next read fetch again and see the new bytes.
	copy(dev[100:], "new bytes")
	c.wrote(100, 9)
	if got := read(100, 9); string(got) != "new bytes" {
		t.Fatalf("read after write = %q", got)
	}
	// A block fetched while a write to it ran is answered but not kept.
	var racing bool
	racyFetch := func(b []byte, off int64) (int, error) {
		n, err := fetch(b, off)
		if !racing {
			racing = true
			copy(dev[cacheBlock+5:], "raced")
			c.wrote(cacheBlock+5, 5)
		}
		return n, err
	}
	c.wrote(cacheBlock, 1) // drop block 1
	b := make([]byte, 10)
	if _, err := c.readAt(b, cacheBlock, size, racyFetch); err != nil {
		t.Fatal(err)
	}
	if got := read(cacheBlock+5, 5); string(got) != "raced" {
		t.Fatalf("stale block kept: %q", got)
	}
}

func TestWriteBufferMerges(t *testing.T) {
	dev := make([]byte, 64<<10)
	var calls []int
	send := func(b []byte, off int64) (int, error) {
		calls = append(calls, len(b))
		return copy(dev[off:], b), nil
	}
	var w writeBuffer
	// Out of order, adjacent, and one place written twice: the later write must win.
	for _, c := range []struct {
		off int64
		s   string
	}{{8, "efgh"}, {0, "abcd"}, {4, "XXXX"}, {4, "1234"}, {100, "far"}} {
		if err := w.write([]byte(c.s), c.off, 8, send); err != nil {
			t.Fatal(err)
		}
	}
	if len(calls) != 0 {
		t.Fatalf("sent before a flush: %v", calls)
	}
	if err := w.flush(8, send); err != nil {
		t.Fatal(err)
	}
	if got := string(dev[:12]); got != "abcd1234efgh" {
		t.Fatalf("device holds %q", got)
	}
	if string(dev[100:103]) != "far" {
		t.Fatal("far write lost")
	}
	// abcd+XXXX merged (8 bytes, the limit), then 1234+efgh, then far.
	if !slices.Equal(calls, []int{8, 8, 3}) {
		t.Fatalf("sends %v", calls)
	}
	failing := func([]byte, int64) (int, error) { return 0, errors.New("plugin gone") }
	w.write([]byte("x"), 0, 8, send)
	if err := w.flush(8, failing); err == nil {
		t.Fatal("a failed send was not reported")
	}
}
