package swarm

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"dist/core/content"
)

// zeroSource is a 32 MiB file in 1 MiB pieces of which 70 % (pieces 3–24, the last two, and a
// short last one) are all zeros.
func zeroSource(tb testing.TB, dir string) (source, int64) {
	tb.Helper()
	src := makeSource(tb, dir, 32*mib+4321, 70)
	const pl = mib
	var zeroBytes int64
	for i := int64(0); i*pl < int64(len(src.data)); i++ {
		if (i >= 3 && i < 25) || i >= 31 {
			end := min((i+1)*pl, int64(len(src.data)))
			clear(src.data[i*pl : end])
			zeroBytes += end - i*pl
		}
	}
	if err := os.WriteFile(src.path, src.data, 0o644); err != nil {
		tb.Fatal(err)
	}
	sums, err := content.Hash(context.Background(), bytes.NewReader(src.data), int64(len(src.data)), pl, 0)
	if err != nil {
		tb.Fatal(err)
	}
	if src.meta, err = content.New("source.img", int64(len(src.data)), pl, sums.Pieces, sums.SHA256); err != nil {
		tb.Fatal(err)
	}
	src.mi, src.sha256 = src.meta.Raw, sums.SHA256
	if _, b := src.meta.ZeroPieces(); b != zeroBytes {
		tb.Fatalf("metainfo marks %d zero bytes, want %d", b, zeroBytes)
	}
	return src, zeroBytes
}

// A 70 %-zero file reaches a new file, an old file full of garbage (holes punched, the data
// pieces hashed and fetched) and a device full of garbage (zeros written), each bit-identical,
// having taken only the data pieces (30 %) over BitTorrent and counting the rest as BytesZero.
func TestZeroPiecesNeverFetched(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src, zeroBytes := zeroSource(t, dir)
	size := src.meta.Size
	seedNode := newNode(t, Config{})
	seed := add(t, seedNode, Spec{Meta: src.meta, DataPath: src.path, Complete: true})
	if st := seed.Stats(); st.BytesZero != 0 {
		t.Fatalf("the seed filled zero pieces: %+v", st)
	}
	garbage := bytes.Repeat([]byte{0xa5}, int(size+mib))
	for _, tc := range []struct {
		name string
		spec func(dir string) Spec
	}{
		{"new file", func(dir string) Spec { return Spec{DataPath: filepath.Join(dir, "out.img")} }},
		{"old file of garbage", func(dir string) Spec {
			p := filepath.Join(dir, "out.img")
			if err := os.WriteFile(p, garbage[:size], 0o644); err != nil {
				t.Fatal(err)
			}
			return Spec{DataPath: p}
		}},
		{"device of garbage", func(dir string) Spec {
			return Spec{DataPath: "mem:///dst", Device: &memDevice{b: bytes.Clone(garbage)}, CompletionPath: filepath.Join(dir, "dst.pieces")}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			spec := tc.spec(t.TempDir())
			spec.Meta = src.meta
			l := add(t, newNode(t, Config{}), spec)
			// Written by the filler (at once in a new file), before any peer is known.
			if err := waitFor(ctx, func() bool { st := l.Stats(); return st.BytesZero == zeroBytes && st.Have >= zeroBytes }); err != nil {
				t.Fatalf("before any peer: %+v, want %d zero bytes held", l.Stats(), zeroBytes)
			}
			l.AddPeers([]string{seedNode.Addr()})
			waitDone(t, ctx, l)
			st := l.Stats()
			t.Logf("%s: %d of %d bytes over BitTorrent, %d zero", tc.name, st.BytesBT, size, st.BytesZero)
			if data := size - zeroBytes; st.BytesBT < data || st.BytesBT > data+data/10 {
				t.Errorf("%d bytes over BitTorrent, want about the %d data bytes (%.0f %% of the file)", st.BytesBT, data, 100*float64(data)/float64(size))
			}
			got := make([]byte, size)
			if _, err := l.st.readAt(got, 0); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, src.data) {
				t.Fatal("copy differs from the source")
			}
			if bad, err := l.Reverify(ctx); err != nil || len(bad) != 0 {
				t.Fatalf("reverify: bad %v, err %v", bad, err)
			}
		})
	}
}

// A device known to read as zeros (Spec.Zeroed) is not written where pieces are zero.
func TestZeroPiecesOnZeroedDevice(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src, zeroBytes := zeroSource(t, dir)
	dev := &memDevice{b: bytes.Repeat([]byte{0xa5}, int(src.meta.Size))} // lies: not zeroed
	l := add(t, newNode(t, Config{}), Spec{Meta: src.meta, DataPath: "mem:///dst", Device: dev, Zeroed: true,
		CompletionPath: filepath.Join(dir, "dst.pieces")})
	if st := l.Stats(); st.BytesZero != zeroBytes || st.Have != zeroBytes {
		t.Fatalf("stats %+v, want %d zero bytes held at once", st, zeroBytes)
	}
	if dev.b[3*mib] != 0xa5 {
		t.Fatal("a device said to be zeroed was written")
	}
}

// A device updated in place that holds the content already ends complete with no peer at all,
// and nothing written: its zero pieces read as zeros, its data pieces match.
func TestInPlaceDeviceHoldingTheContent(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dir := t.TempDir()
	src, zeroBytes := zeroSource(t, dir)
	dev := &memDevice{b: append(bytes.Clone(src.data), 1, 2, 3)}
	l := add(t, newNode(t, Config{}), Spec{Meta: src.meta, DataPath: "mem:///dst", Device: dev, BaseInPlace: true,
		CompletionPath: filepath.Join(dir, "dst.pieces")})
	waitDone(t, ctx, l)
	st := l.Stats()
	if st.BytesZero != zeroBytes || st.BytesKept != src.meta.Size-zeroBytes || st.BytesBT != 0 {
		t.Fatalf("stats %+v: want %d zero, %d kept, nothing fetched", st, zeroBytes, src.meta.Size-zeroBytes)
	}
	dev.mu.Lock()
	defer dev.mu.Unlock()
	if dev.writes != 0 {
		t.Fatalf("%d writes to a device that held the content", dev.writes)
	}
}
