package content

import (
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
)

const (
	kib = int64(1) << 10
	mib = kib << 10
	gib = mib << 10
)

func TestPieceLength(t *testing.T) {
	t.Parallel()
	tests := []struct {
		size int64
		want int64
	}{
		{0, 256 * kib},
		{1, 256 * kib},
		{100 * mib, 256 * kib},
		{1 * gib, 256 * kib},                 // exactly 4096 pieces
		{1*gib + 1, 512 * kib},               // one byte more needs a 4097th piece
		{2 * gib, 512 * kib},                 //
		{4 * gib, 1 * mib},                   //
		{10 * gib, 4 * mib},                  // 2560 pieces
		{64 * gib, 16 * mib},                 // 4096 pieces
		{64*gib + 1, 32 * mib},               //
		{256 * 1000 * 1000 * 1000, 64 * mib}, // a 256 GB image: 3815 pieces
		{256 * gib, 64 * mib},                // 4096 pieces at the cap
		{256*gib + 1, 64 * mib},              // past the cap: more pieces, not bigger ones
		{1 << 40, 64 * mib},                  // 1 TiB: 16384 pieces
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.size), func(t *testing.T) {
			got := PieceLength(tt.size)
			if got != tt.want {
				t.Fatalf("PieceLength(%d) = %d, want %d", tt.size, got, tt.want)
			}
			if got&(got-1) != 0 || got < MinPieceLength || got > MaxPieceLength {
				t.Fatalf("PieceLength(%d) = %d: not a power of two in range", tt.size, got)
			}
			// Smallest: half of it would exceed the target, unless at the floor.
			if got > MinPieceLength && numPieces(tt.size, got/2) <= TargetPieces {
				t.Fatalf("PieceLength(%d) = %d: %d would do", tt.size, got, got/2)
			}
		})
	}
}

func randomBytes(n int64, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	for i := 0; i < len(b); i += 8 {
		v := r.Uint64()
		for j := 0; j < 8 && i+j < len(b); j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return b
}

// sequentialPieces is the obvious reference: one piece after another on one goroutine.
func sequentialPieces(data []byte, pieceLen int64) []byte {
	var out []byte
	for off := int64(0); off < int64(len(data)); off += pieceLen {
		s := sha1.Sum(data[off:min(off+pieceLen, int64(len(data)))])
		out = append(out, s[:]...)
	}
	return out
}

func TestHashPiecesMatchesReferences(t *testing.T) {
	t.Parallel()
	const pl = 64 * kib
	sizes := []int64{0, 1, pl - 1, pl, pl + 1, 3*pl + 12345, 17*pl - 3}
	for _, size := range sizes {
		data := randomBytes(size, uint64(size))
		want := sequentialPieces(data, pl)
		for _, workers := range []int{0, 1, 3, 64} {
			t.Run(fmt.Sprintf("size=%d/workers=%d", size, workers), func(t *testing.T) {
				got, err := HashPieces(context.Background(), bytes.NewReader(data), size, pl, workers)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("pieces differ from the sequential reference")
				}
				if int64(len(got)) != numPieces(size, pl)*20 {
					t.Fatalf("got %d bytes of hashes", len(got))
				}
			})
		}
		t.Run(fmt.Sprintf("size=%d/anacrolix", size), func(t *testing.T) {
			info := metainfo.Info{PieceLength: pl, Length: size, Name: "x"}
			err := info.GeneratePieces(func(metainfo.FileInfo) (io.ReadCloser, error) {
				return io.NopCloser(io.NewSectionReader(bytes.NewReader(data), 0, size)), nil
			})
			if err != nil {
				t.Fatal(err)
			}
			got, err := HashPieces(context.Background(), bytes.NewReader(data), size, pl, 4)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, info.Pieces) {
				t.Fatalf("pieces differ from anacrolix GeneratePieces")
			}
		})
	}
}

func TestHashPiecesErrors(t *testing.T) {
	t.Parallel()
	data := randomBytes(100, 1)
	if _, err := HashPieces(context.Background(), bytes.NewReader(data), 200, 64, 2); !errors.Is(err, errShortRead) {
		t.Fatalf("short source: err = %v, want %v", err, errShortRead)
	}
	if _, err := HashPieces(context.Background(), bytes.NewReader(data), 100, 0, 2); err == nil {
		t.Fatal("zero piece length accepted")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := HashPieces(ctx, bytes.NewReader(data), 100, 10, 2); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: err = %v", err)
	}
}

func TestBuildParseRoundTrip(t *testing.T) {
	t.Parallel()
	for _, size := range []int64{0, 1, 1000, 5*256*kib + 7} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			data := randomBytes(size, 7)
			pl := PieceLength(size)
			pieces, err := HashPieces(context.Background(), bytes.NewReader(data), size, pl, 0)
			if err != nil {
				t.Fatal(err)
			}
			mi, ih, err := Build("disk.img", size, pl, pieces)
			if err != nil {
				t.Fatal(err)
			}
			if len(ih) != 40 || strings.ToLower(ih) != ih {
				t.Fatalf("info hash %q is not lowercase hex", ih)
			}
			m, err := Parse(mi)
			if err != nil {
				t.Fatal(err)
			}
			if m.InfoHash != ih || m.Name != "disk.img" || m.Size != size || m.PieceLen != pl ||
				m.NumPieces != int(numPieces(size, pl)) || !bytes.Equal(m.Pieces, pieces) {
				t.Fatalf("round trip: got %+v", m)
			}
			for i := range m.NumPieces {
				off, n := m.PieceRange(i)
				s := sha1.Sum(data[off : off+n])
				if !bytes.Equal(m.PieceHash(i), s[:]) {
					t.Fatalf("piece %d hash mismatch", i)
				}
			}
			if m.NumPieces > 0 {
				if _, n := m.PieceRange(m.NumPieces - 1); n != size-int64(m.NumPieces-1)*pl {
					t.Fatalf("last piece length %d", n)
				}
			}

			// anacrolix sees the same torrent: private, no announce, same hash.
			var raw metainfo.MetaInfo
			if err := bencode.Unmarshal(mi, &raw); err != nil {
				t.Fatal(err)
			}
			info, err := raw.UnmarshalInfo()
			if err != nil {
				t.Fatal(err)
			}
			if raw.Announce != "" || len(raw.AnnounceList) != 0 {
				t.Fatal("metainfo has an announce URL")
			}
			if info.Private == nil || !*info.Private {
				t.Fatal("metainfo is not private")
			}
			if raw.HashInfoBytes().HexString() != ih {
				t.Fatal("info hash differs from anacrolix's")
			}
		})
	}
}

func TestBuildIsDeterministic(t *testing.T) {
	t.Parallel()
	pieces := make([]byte, 40)
	a, iha, _ := Build("a", 300, 256, pieces)
	b, ihb, _ := Build("a", 300, 256, pieces)
	if !bytes.Equal(a, b) || iha != ihb {
		t.Fatal("same input, different metainfo")
	}
}

func TestBuildRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		size, pl int64
		pieces   int
	}{
		{"", 10, 16, 20},
		{"x", -1, 16, 0},
		{"x", 10, 0, 20},
		{"x", 100, 16, 20}, // 7 pieces needed
	}
	for _, tt := range tests {
		if _, _, err := Build(tt.name, tt.size, tt.pl, make([]byte, tt.pieces)); err == nil {
			t.Errorf("Build(%q, %d, %d, %d bytes) accepted", tt.name, tt.size, tt.pl, tt.pieces)
		}
	}
}

func TestParseRejects(t *testing.T) {
	t.Parallel()
	encode := func(info any) []byte {
		ib, err := bencode.Marshal(info)
		if err != nil {
			t.Fatal(err)
		}
		mi, err := bencode.Marshal(metainfo.MetaInfo{InfoBytes: ib})
		if err != nil {
			t.Fatal(err)
		}
		return mi
	}
	multi := metainfo.Info{
		Name:        "dir",
		PieceLength: 16,
		Pieces:      make([]byte, 40),
		Files: []metainfo.FileInfo{
			{Path: []string{"a"}, Length: 10},
			{Path: []string{"b"}, Length: 10},
		},
	}
	tests := map[string]struct {
		mi   []byte
		want string
	}{
		"garbage":    {[]byte("not bencode"), "parse metainfo"},
		"no info":    {[]byte("d8:announce3:urle"), "no info"},
		"multi-file": {encode(multi), "multi-file"},
		"too few":    {encode(infoDict{Length: 100, Name: "x", PieceLength: 16, Pieces: make([]byte, 20)}), "piece hashes"},
		"too many":   {encode(infoDict{Length: 10, Name: "x", PieceLength: 16, Pieces: make([]byte, 40)}), "piece hashes"},
		"ragged":     {encode(infoDict{Length: 10, Name: "x", PieceLength: 16, Pieces: make([]byte, 21)}), "multiple of 20"},
		"zero piece": {encode(infoDict{Length: 10, Name: "x", PieceLength: 0, Pieces: make([]byte, 20)}), "piece length"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := Parse(tt.mi)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

func TestSHA256File(t *testing.T) {
	t.Parallel()
	data := randomBytes(3*mib+5, 3)
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := SHA256File(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	want := sha256.Sum256(data)
	if got != hex.EncodeToString(want[:]) {
		t.Fatalf("sha256 = %s, want %x", got, want)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := SHA256File(ctx, path); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: err = %v", err)
	}
	if _, err := SHA256File(context.Background(), filepath.Join(t.TempDir(), "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: err = %v", err)
	}
}

// BenchmarkHashPieces hashes a 256 MiB in-memory image with 1 MiB pieces; the MB/s column of
// workers=1 against workers=GOMAXPROCS shows what parallel hashing buys on this machine.
func BenchmarkHashPieces(b *testing.B) {
	const size = 256 * mib
	data := randomBytes(size, 42)
	r := bytes.NewReader(data)
	for _, workers := range []int{1, runtime.GOMAXPROCS(0)} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			b.SetBytes(size)
			for b.Loop() {
				if _, err := HashPieces(context.Background(), r, size, 1*mib, workers); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// Pieces, fed in slices of any size from a piece boundary, hands out the same hashes as
// HashPieces.
func TestPiecesMatchesHashPieces(t *testing.T) {
	t.Parallel()
	const pl = 64 * kib
	for _, size := range []int64{1, pl, 3*pl + 12345} {
		data := randomBytes(size, uint64(size)+9)
		want, err := HashPieces(context.Background(), bytes.NewReader(data), size, pl, 1)
		if err != nil {
			t.Fatal(err)
		}
		for _, from := range []int{0, 1} {
			if int64(from)*pl >= size {
				continue
			}
			got := map[int][]byte{}
			p := Pieces{Size: size, PieceLen: pl, Done: func(i int, sum [20]byte) { got[i] = sum[:] }}
			p.From(from)
			rest := data[int64(from)*pl:]
			for len(rest) > 0 {
				k := min(len(rest), 1000+len(rest)%7777)
				if _, err := p.Write(rest[:k]); err != nil {
					t.Fatal(err)
				}
				rest = rest[k:]
			}
			for i := from; i < int(numPieces(size, pl)); i++ {
				if !bytes.Equal(got[i], want[i*20:(i+1)*20]) {
					t.Fatalf("size %d from %d: piece %d differs", size, from, i)
				}
			}
			if _, err := p.Write([]byte{1}); err == nil {
				t.Fatalf("size %d: a byte past the end accepted", size)
			}
		}
	}
}
