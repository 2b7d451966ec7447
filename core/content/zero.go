package content

import (
	"bytes"
	"crypto/sha1"
	"fmt"
	"sync"
)

// Zero pieces are pieces whose bytes are all zero: the unused blocks of a partition image, the
// holes of a sparse file. The metainfo marks them beside the info dictionary ("zero pieces", a
// bitfield in BitTorrent's order: piece 0 is the high bit of the first byte), so a target writes
// them itself (a hole, or zeros on a device) instead of fetching them. The info dictionary stays
// standard, so the info hash is the one any BitTorrent client computes.
//
// A mark is worth only what the piece hash says: New marks exactly the pieces whose SHA-1 is the
// SHA-1 of that many zero bytes, and Parse refuses a metainfo that marks any other piece, so a
// forged or damaged mark cannot make a target skip a piece that holds data.

// zeroSums caches the SHA-1 of n zero bytes by n: a torrent has at most two piece lengths.
var zeroSums sync.Map // int64 → [sha1.Size]byte

var zeroBlock = make([]byte, 1<<20)

// ZeroPieceHash answers the SHA-1 of n zero bytes.
func ZeroPieceHash(n int64) [sha1.Size]byte {
	if v, ok := zeroSums.Load(n); ok {
		return v.([sha1.Size]byte)
	}
	h := sha1.New()
	for left := n; left > 0; {
		k := min(left, int64(len(zeroBlock)))
		h.Write(zeroBlock[:k])
		left -= k
	}
	var sum [sha1.Size]byte
	h.Sum(sum[:0])
	zeroSums.Store(n, sum)
	return sum
}

// zeroField answers the bitfield of the pieces whose hash is that of all-zero bytes, nil when
// there is none.
func zeroField(size, pieceLen int64, pieces []byte) []byte {
	n := numPieces(size, pieceLen)
	var field []byte
	for i := range n {
		l := min(pieceLen, size-i*pieceLen)
		z := ZeroPieceHash(l)
		if !bytes.Equal(pieces[i*sha1.Size:(i+1)*sha1.Size], z[:]) {
			continue
		}
		if field == nil {
			field = make([]byte, (n+7)/8)
		}
		field[i/8] |= 0x80 >> (i % 8)
	}
	return field
}

// IsZero reports whether piece i is all zeros by the metainfo's mark (checked against its hash
// when the metainfo was parsed). i must be in [0, NumPieces).
func (m Meta) IsZero(i int) bool {
	return m.zero != nil && m.zero[i/8]&(0x80>>(i%8)) != 0
}

// ZeroPieces counts the pieces marked all zeros and the bytes they cover.
func (m Meta) ZeroPieces() (pieces int, bytes int64) {
	if m.zero == nil {
		return 0, 0
	}
	for i := range m.NumPieces {
		if m.IsZero(i) {
			_, n := m.PieceRange(i)
			pieces++
			bytes += n
		}
	}
	return pieces, bytes
}

// checkZero refuses a zero-pieces mark of the wrong length, with bits past the last piece, or on
// a piece whose hash is not that of zeros.
func checkZero(field []byte, size, pieceLen int64, pieces []byte) error {
	if len(field) == 0 {
		return nil
	}
	n := numPieces(size, pieceLen)
	if int64(len(field)) != (n+7)/8 {
		return fmt.Errorf("zero pieces field of %d bytes for %d pieces, want %d", len(field), n, (n+7)/8)
	}
	for i := range int64(len(field)) * 8 {
		if field[i/8]&(0x80>>(i%8)) == 0 {
			continue
		}
		if i >= n {
			return fmt.Errorf("zero pieces field marks piece %d of %d", i, n)
		}
		z := ZeroPieceHash(min(pieceLen, size-i*pieceLen))
		if !bytes.Equal(pieces[i*sha1.Size:(i+1)*sha1.Size], z[:]) {
			return fmt.Errorf("zero pieces field marks piece %d, whose hash is not that of zeros: the metainfo is damaged or forged", i)
		}
	}
	return nil
}
