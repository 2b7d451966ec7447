package relay

import (
	"bytes"
	"context"
	"crypto/sha1"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"dist/core/content"
	"dist/core/fetch"
	"dist/core/swarm"
)

// A relay's file left with garbage (an earlier run) gets its zero pieces zeroed and recorded
// complete with the known hash, the data pieces left to the pull; the pull asks the origin for
// no zero piece of a chunk that mixes both, runs of them merged, the short last piece included.
func TestRelayZeroPieces(t *testing.T) {
	t.Parallel()
	const pl = 256 << 10
	const size = 11*pl + 1000 // 12 pieces, the last one short
	zero := []int{1, 2, 4, 5, 6, 7, 11}
	data := bytes.Repeat([]byte{0x5a}, size)
	for _, i := range zero {
		clear(data[i*pl : min((i+1)*pl, size)])
	}
	sums, err := content.Hash(context.Background(), bytes.NewReader(data), size, pl, 0)
	if err != nil {
		t.Fatal(err)
	}
	meta, err := content.New("f.img", size, pl, sums.Pieces, sums.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "f.img")
	if err := os.WriteFile(path, bytes.Repeat([]byte{0xa5}, size), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rec, err := swarm.OpenRecord(slog.Default(), filepath.Join(dir, "pull.pieces"), meta.NumPieces, sha1.Sum(meta.InfoBytes), f.Sync)
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Close()
	p := &pull{meta: meta, size: size, pieceLen: pl, n: meta.NumPieces, per: 4, dataPath: path, f: f, rec: rec}

	got, err := p.fillZeros(false)
	if want := int64(6*pl + 1000); err != nil || got != want {
		t.Fatalf("fillZeros = %d, %v; want %d zero bytes", got, err, want)
	}
	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range meta.NumPieces {
		off, l := meta.PieceRange(i)
		isZero := slices.Contains(zero, i)
		if rec.Complete(i) != isZero {
			t.Errorf("piece %d: recorded complete %v, zero %v", i, rec.Complete(i), isZero)
		}
		if isZero && (!bytes.Equal(file[off:off+l], data[off:off+l]) || !bytes.Equal(rec.Hash(i), meta.PieceHash(i))) {
			t.Errorf("zero piece %d: not zeros in the file, or recorded with another hash", i)
		}
		if !isZero && file[off] != 0xa5 {
			t.Errorf("data piece %d was written", i)
		}
	}
	for c, want := range [][]fetch.Span{
		{{Off: pl, Len: 2 * pl}},
		{{Off: 4 * pl, Len: 4 * pl}},
		{{Off: 11 * pl, Len: 1000}},
	} {
		if got := p.holes(c); !slices.Equal(got, want) {
			t.Errorf("holes of chunk %d = %v, want %v", c, got, want)
		}
	}
	if !p.hasZeros() || (&pull{}).hasZeros() {
		t.Error("hasZeros: wrong for a metainfo with zero pieces or for none")
	}
}
