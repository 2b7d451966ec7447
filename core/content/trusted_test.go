package content

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/anacrolix/torrent/bencode"
)

// Trust marks a metainfo for trusted mode and keeps its info dictionary, its info hash, its
// SHA-256 and its zero pieces; a mark without a SHA-256 or of another value is refused.
func TestTrust(t *testing.T) {
	t.Parallel()
	const pl = 64 * kib
	data := randomBytes(5*pl+7, 8)
	clear(data[pl : 2*pl])
	sums, err := Hash(context.Background(), bytes.NewReader(data), int64(len(data)), pl, 0)
	if err != nil {
		t.Fatal(err)
	}
	m, err := New("img", int64(len(data)), pl, sums.Pieces, sums.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	if m.Trusted || m.Mode() != ModeNormal || ModeOf(m.Raw) != ModeNormal {
		t.Fatalf("a new metainfo is in mode %s", m.Mode())
	}
	raw, err := Trust(m.Raw)
	if err != nil {
		t.Fatal(err)
	}
	tm, err := Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	if !tm.Trusted || tm.Mode() != ModeTrusted || ModeOf(raw) != ModeTrusted {
		t.Fatalf("trusted metainfo in mode %s", tm.Mode())
	}
	if tm.InfoHash != m.InfoHash || !bytes.Equal(tm.InfoBytes, m.InfoBytes) || tm.SHA256 != m.SHA256 || !tm.IsZero(1) || tm.IsZero(0) {
		t.Fatal("trusting changed the info dictionary, the sha256 or the zero pieces")
	}

	bare, err := New("img", int64(len(data)), pl, sums.Pieces, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Trust(bare.Raw); err == nil || !strings.Contains(err.Error(), "no whole-file sha256") {
		t.Fatalf("Trust without sha256: %v", err)
	}
	for _, tc := range []struct {
		name string
		f    file
		want string
	}{
		{"no sha256", file{Info: m.InfoBytes, Trusted: 1}, "without the whole-file sha256"},
		{"other value", file{Info: m.InfoBytes, SHA256: m.SHA256, Trusted: 2}, "trusted mark 2"},
	} {
		mi, err := bencode.Marshal(tc.f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Parse(mi); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Parse: %v, want %q", tc.name, err, tc.want)
		}
	}
	if ModeOf(nil) != "" || ModeOf([]byte("junk")) != "" {
		t.Error("ModeOf names a mode for no metainfo")
	}
}

// countingReader counts the bytes read through it and, once past stopAt, cancels: a crash in the
// middle of the end check.
type countingReader struct {
	r      *bytes.Reader
	read   atomic.Int64
	stopAt int64
	cancel context.CancelFunc
}

func (c *countingReader) ReadAt(b []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(b, off)
	if c.read.Add(int64(n)) >= c.stopAt && c.cancel != nil {
		c.cancel()
	}
	return n, err
}

// A check stopped half-way goes on from its last saved state: the second run reads only the bytes
// after it, and the sum is that of the whole content. A state saved for other content is ignored.
func TestResumableSHA256Resumes(t *testing.T) {
	t.Parallel()
	const size, every = 10<<20 + 333, 1 << 20
	data := randomBytes(size, 9)
	want := sha256.Sum256(data)
	state := filepath.Join(t.TempDir(), "endcheck.json")

	ctx, cancel := context.WithCancel(context.Background())
	crash := &countingReader{r: bytes.NewReader(data), stopAt: size / 2, cancel: cancel}
	if _, _, err := ResumableSHA256(ctx, crash, size, "ih", state, every); !errors.Is(err, context.Canceled) {
		t.Fatalf("first run: %v, want it cancelled", err)
	}
	if _, err := os.Stat(state); err != nil {
		t.Fatalf("no state saved before the crash: %v", err)
	}

	again := &countingReader{r: bytes.NewReader(data), stopAt: size + 1}
	sum, from, err := ResumableSHA256(context.Background(), again, size, "ih", state, every)
	if err != nil {
		t.Fatal(err)
	}
	if sum != hex.EncodeToString(want[:]) {
		t.Fatalf("resumed sum %s, want %x", sum, want)
	}
	if from <= 0 || from > crash.read.Load() {
		t.Errorf("resumed from %d, want a save made before the crash, within the %d bytes read", from, crash.read.Load())
	}
	if got := again.read.Load(); got != size-from {
		t.Errorf("second run read %d bytes, want %d (only what the first had not hashed)", got, size-from)
	}
	if _, err := os.Stat(state); !os.IsNotExist(err) {
		t.Errorf("state left behind after the sum: %v", err)
	}

	// A state of another torrent starts over.
	ctx, cancel = context.WithCancel(context.Background())
	crash = &countingReader{r: bytes.NewReader(data), stopAt: size / 2, cancel: cancel}
	_, _, _ = ResumableSHA256(ctx, crash, size, "other", state, every)
	fresh := &countingReader{r: bytes.NewReader(data), stopAt: size + 1}
	if sum, from, err := ResumableSHA256(context.Background(), fresh, size, "ih", state, every); err != nil || from != 0 ||
		fresh.read.Load() != size || sum != hex.EncodeToString(want[:]) {
		t.Errorf("with another key's state: from %d, read %d, err %v", from, fresh.read.Load(), err)
	}
}
