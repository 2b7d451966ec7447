package swarm

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// closeCount is a base that counts its Close calls.
type closeCount struct {
	*os.File
	closed atomic.Int32
}

func (c *closeCount) Close() error { c.closed.Add(1); return c.File.Close() }

// A destination holding v1 (a file beside the download, or the device being updated in place)
// ends with v2 bit-identical, having fetched only the changed pieces (5 %) and kept the rest; a
// base of garbage of the right size ends identical too, with nothing kept.
func TestBaseFetchesOnlyChangedPieces(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	v2 := withPieceLen(t, makeSource(t, dir, 40*mib, 80), mib)
	v1 := bytes.Clone(v2.data)
	for _, i := range []int64{7, 31} { // 2 of 40 pieces differ
		v1[i*mib+100] ^= 0xff
	}
	garbage := bytes.Repeat([]byte{0x5a}, len(v1))
	seedNode := newNode(t, Config{})
	add(t, seedNode, Spec{Meta: v2.meta, DataPath: v2.path, Complete: true})
	for _, tc := range []struct {
		name     string
		base     []byte
		inPlace  bool
		wantKept int64
	}{
		{"file base v1", v1, false, 38 * mib},
		{"device in place v1", v1, true, 38 * mib},
		{"file base of garbage", garbage, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			d := t.TempDir()
			spec := Spec{Meta: v2.meta, DataPath: filepath.Join(d, "out.part")}
			var base *closeCount
			var dev *memDevice
			if tc.inPlace {
				dev = &memDevice{b: bytes.Clone(tc.base)}
				spec = Spec{Meta: v2.meta, DataPath: "mem:///dst", Device: dev, BaseInPlace: true, CompletionPath: filepath.Join(d, "dst.pieces")}
			} else {
				p := filepath.Join(d, "old.img")
				if err := os.WriteFile(p, tc.base, 0o644); err != nil {
					t.Fatal(err)
				}
				f, err := os.Open(p)
				if err != nil {
					t.Fatal(err)
				}
				base = &closeCount{File: f}
				spec.Base, spec.BaseSize = base, int64(len(tc.base))
			}
			l := add(t, newNode(t, Config{}), spec)
			l.AddPeers([]string{seedNode.Addr()})
			waitDone(t, ctx, l)
			st := l.Stats()
			t.Logf("%s: %d bytes over BitTorrent, %d kept", tc.name, st.BytesBT, st.BytesKept)
			if st.BytesKept != tc.wantKept {
				t.Errorf("kept %d bytes, want %d", st.BytesKept, tc.wantKept)
			}
			if want := v2.meta.Size - tc.wantKept; st.BytesBT < want || st.BytesBT > want+want/10+mib {
				t.Errorf("%d bytes over BitTorrent, want about %d", st.BytesBT, want)
			}
			got := make([]byte, v2.meta.Size)
			if _, err := l.st.readAt(got, 0); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, v2.data) {
				t.Fatal("copy differs from v2")
			}
			if base != nil {
				if err := waitFor(ctx, func() bool { return base.closed.Load() == 1 }); err != nil {
					t.Fatalf("base closed %d times after every piece was tried", base.closed.Load())
				}
			}
		})
	}
}

// A base that cannot be used is closed by Add all the same.
func TestBaseClosedWhenAddFails(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src := makeSource(t, dir, mib, 81)
	f, err := os.Open(src.path)
	if err != nil {
		t.Fatal(err)
	}
	base := &closeCount{File: f}
	n := newNode(t, Config{})
	if _, err := n.Add(context.Background(), Spec{Meta: src.meta, Base: base, BaseSize: mib}); err == nil {
		t.Fatal("add without a data path accepted")
	}
	if base.closed.Load() != 1 {
		t.Fatalf("base closed %d times", base.closed.Load())
	}
}
