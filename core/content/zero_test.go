package content

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
)

// A file with zero regions: New marks exactly the all-zero pieces (a short last one included),
// the info dictionary and hash are what they are without the mark, and Parse gives the marks back.
func TestZeroPiecesMarked(t *testing.T) {
	t.Parallel()
	const pl = 64 * kib
	data := randomBytes(10*pl+100, 3)
	zero := map[int]bool{1: true, 2: true, 7: true, 10: true}
	for i := range zero {
		end := min(int64(i+1)*pl, int64(len(data)))
		clear(data[int64(i)*pl : end])
	}
	data[5*pl+17] = 0          // a lone zero byte does not make a zero piece
	clear(data[3*pl : 4*pl-1]) // nor a piece zero but for its last byte
	sums, err := Hash(context.Background(), bytes.NewReader(data), int64(len(data)), pl, 0)
	if err != nil {
		t.Fatal(err)
	}
	m, err := New("img", int64(len(data)), pl, sums.Pieces, sums.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	for i := range m.NumPieces {
		if m.IsZero(i) != zero[i] {
			t.Errorf("piece %d: IsZero %v, want %v", i, m.IsZero(i), zero[i])
		}
	}
	if n, b := m.ZeroPieces(); n != 4 || b != 3*pl+100 {
		t.Errorf("ZeroPieces = %d, %d; want 4, %d", n, b, 3*pl+100)
	}
	plain, err := bencode.Marshal(infoDict{Length: m.Size, Name: "img", PieceLength: pl, Pieces: sums.Pieces, Private: 1})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(m.InfoBytes, plain) || m.InfoHash != metainfo.HashBytes(plain).HexString() {
		t.Fatal("the zero mark changed the info dictionary")
	}
	again, err := Parse(m.Raw)
	if err != nil {
		t.Fatal(err)
	}
	if !again.IsZero(10) || again.IsZero(0) {
		t.Fatal("marks lost in a round trip")
	}
	none, err := New("img", pl, pl, sums.Pieces[:20], "")
	if err != nil || none.IsZero(0) {
		t.Fatalf("file without zero pieces: %v, zero %v", err, none.IsZero(0))
	}
	if bytes.Contains(none.Raw, []byte("zero pieces")) {
		t.Fatal("metainfo without zero pieces carries the key")
	}
}

// Parse refuses a mark on a piece that holds data, a field of the wrong length, and a bit past
// the last piece: a target never skips a piece on a mark its hash does not back.
func TestZeroPiecesForgedRefused(t *testing.T) {
	t.Parallel()
	const pl = 64 * kib
	data := randomBytes(3*pl, 4)
	clear(data[:pl])
	sums, err := Hash(context.Background(), bytes.NewReader(data), int64(len(data)), pl, 0)
	if err != nil {
		t.Fatal(err)
	}
	m, err := New("img", int64(len(data)), pl, sums.Pieces, sums.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		field []byte
		want  string
	}{
		{"data piece marked", []byte{0xc0}, "piece 1, whose hash is not that of zeros"},
		{"too long", []byte{0x80, 0}, "zero pieces field of 2 bytes"},
		{"past the end", []byte{0x90}, "marks piece 3 of 3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mi, err := bencode.Marshal(file{Info: m.InfoBytes, SHA256: m.SHA256, Zero: tc.field})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Parse(mi); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Parse: %v, want %q", err, tc.want)
			}
		})
	}
	if !m.IsZero(0) || m.IsZero(1) {
		t.Fatal("honest mark wrong")
	}
}
