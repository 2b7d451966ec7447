package swarm

import (
	"bytes"
	"crypto/sha1"
	"errors"
	"io"
	"path/filepath"
	"testing"

	g "github.com/anacrolix/generics"
	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/storage"
)

// openTestStore opens an empty store for src's metainfo in a fresh directory.
func openTestStore(t *testing.T, src source) *store {
	t.Helper()
	dir := t.TempDir()
	st, err := openStore(testLogger(t), src.meta, metainfo.HashBytes(src.meta.InfoBytes),
		filepath.Join(dir, "out.img"), filepath.Join(dir, "out.pieces"), false, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.close() })
	return st
}

// TestWriteSums checks that a sum taken at write time stands only for a piece whose last write
// covered all of it, and is used once.
func TestWriteSums(t *testing.T) {
	t.Parallel()
	src := makeSource(t, t.TempDir(), 4*ChunkSize+1000, 21) // 256 KiB pieces, a short last one
	if src.meta.PieceLen != ChunkSize {
		t.Fatalf("piece length %d, want %d", src.meta.PieceLen, ChunkSize)
	}
	piece := func(i int) []byte { off, n := src.meta.PieceRange(i); return src.data[off : off+n] }
	last := src.meta.NumPieces - 1
	for _, tc := range []struct {
		name   string
		writes func(st *store) error
		piece  int
		want   bool
	}{
		{"whole piece", func(st *store) error { return write(st, piece(1), 1*ChunkSize) }, 1, true},
		{"short last piece", func(st *store) error { return write(st, piece(last), int64(last)*ChunkSize) }, last, true},
		{"part of a piece", func(st *store) error { return write(st, piece(1)[:1000], 1*ChunkSize) }, 1, false},
		{"whole, then part", func(st *store) error {
			return errors.Join(write(st, piece(1), 1*ChunkSize), write(st, []byte{1}, 1*ChunkSize+5))
		}, 1, false},
		{"whole, then a write across two pieces", func(st *store) error {
			return errors.Join(write(st, piece(2), 2*ChunkSize), write(st, src.data[ChunkSize+10:2*ChunkSize+10], ChunkSize+10))
		}, 2, false},
		{"part, then whole", func(st *store) error {
			return errors.Join(write(st, piece(1)[:1000], 1*ChunkSize), write(st, piece(1), 1*ChunkSize))
		}, 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			st := openTestStore(t, src)
			st.sumWrites(ChunkSize)
			if st.sums == nil {
				t.Fatal("sums off for one-chunk pieces")
			}
			if err := tc.writes(st); err != nil {
				t.Fatal(err)
			}
			sum, ok := st.takeSum(tc.piece)
			if ok != tc.want {
				t.Fatalf("sum kept: %v, want %v", ok, tc.want)
			}
			if ok && !bytes.Equal(sum[:], src.meta.PieceHash(tc.piece)) {
				t.Fatal("sum is not the piece's hash")
			}
			if _, again := st.takeSum(tc.piece); again {
				t.Fatal("sum used twice")
			}
			// Whatever the sum said, the check now reads the piece back.
			wp := wholePiece{piece: piece0(st, tc.piece)}
			got, err := wp.SelfHash()
			if err != nil {
				t.Fatal(err)
			}
			off, n := src.meta.PieceRange(tc.piece)
			disk := make([]byte, n)
			if _, err := st.readAt(disk, off); err != nil && !errors.Is(err, io.EOF) {
				t.Fatal(err)
			}
			if want := sha1.Sum(disk); got != want {
				t.Fatal("read-back hash is not that of the bytes on disk")
			}
		})
	}
}

func write(st *store, b []byte, off int64) error {
	_, err := st.writeAt(b, off)
	return err
}

// piece0 is piece i of st as anacrolix sees it.
func piece0(st *store, i int) piece {
	off, n := st.meta.PieceRange(i)
	return piece{s: st, i: i, off: off, n: n}
}

// TestSelfHashOnlyForOneChunkPieces checks that pieces of several chunks keep anacrolix's own
// check, the one that feeds smart-ban.
func TestSelfHashOnlyForOneChunkPieces(t *testing.T) {
	t.Parallel()
	small := makeSource(t, t.TempDir(), 2*mib, 22)
	for _, tc := range []struct {
		name  string
		src   source
		chunk int
		self  bool
	}{
		{"one chunk a piece", small, ChunkSize, true},
		{"16 KiB chunks", small, 16 << 10, false},
		{"1 MiB pieces", withPieceLen(t, small, mib), ChunkSize, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			st := openTestStore(t, tc.src)
			st.sumWrites(tc.chunk)
			mi, err := metainfo.Load(bytes.NewReader(tc.src.mi))
			if err != nil {
				t.Fatal(err)
			}
			info, err := mi.UnmarshalInfo()
			if err != nil {
				t.Fatal(err)
			}
			ti, err := st.OpenTorrent(t.Context(), &info, mi.HashInfoBytes())
			if err != nil {
				t.Fatal(err)
			}
			impl := ti.PieceWithHash(info.Piece(0), g.None[[]byte]())
			if _, self := impl.(storage.SelfHashing); self != tc.self {
				t.Fatalf("self-hashing: %v, want %v", self, tc.self)
			}
			if _, ok := impl.(io.WriterTo); !ok {
				t.Fatal("piece does not stream itself to the hasher")
			}
		})
	}
}

// chunkWriter records the sizes of the writes it gets.
type chunkWriter struct {
	bytes.Buffer
	sizes []int
}

func (w *chunkWriter) Write(b []byte) (int, error) {
	w.sizes = append(w.sizes, len(b))
	return w.Buffer.Write(b)
}

// TestPieceWriteTo checks that a piece streams exactly its bytes, in writes that are whole
// multiples of any chunk size but for the piece's tail, and reports a short file as io.EOF.
func TestPieceWriteTo(t *testing.T) {
	t.Parallel()
	src := withPieceLen(t, makeSource(t, t.TempDir(), 5*mib+12345, 23), 4*mib)
	st := openTestStore(t, src)
	if err := write(st, src.data, 0); err != nil {
		t.Fatal(err)
	}
	for i := range src.meta.NumPieces {
		var w chunkWriter
		p := piece0(st, i)
		n, err := p.WriteTo(&w)
		if err != nil || n != p.n {
			t.Fatalf("piece %d: wrote %d, %v; want %d", i, n, err, p.n)
		}
		if !bytes.Equal(w.Bytes(), src.data[p.off:p.off+p.n]) {
			t.Fatalf("piece %d: wrong bytes", i)
		}
		for k, s := range w.sizes[:len(w.sizes)-1] {
			if s%ChunkSize != 0 {
				t.Fatalf("piece %d: write %d of %d bytes splits a chunk", i, k, s)
			}
		}
	}
	// A piece reaching past the end of the file (a device shorter than it said).
	p := piece0(st, src.meta.NumPieces-1)
	p.n += 100
	if _, err := p.WriteTo(io.Discard); !errors.Is(err, io.EOF) {
		t.Fatalf("short piece: %v, want io.EOF", err)
	}
}
