package relay

import (
	"bytes"
	"fmt"
	"os"

	"dist/core/content"
	"dist/core/fetch"
)

// A published file's metainfo is known from the start and marks its all-zero pieces (content
// zero.go): the relay writes those itself, a hole in its file, and never pulls them from the
// origin. Each mark is checked against the piece hash first, as the clients do (swarm local.go),
// so a piece with data is never skipped on a mark. A URL source has no metainfo yet: every
// piece is pulled, zeros included.

// fillZeros makes every zero piece not recorded yet read as zeros in the relay's file and records
// it complete with its known hash; it answers the bytes of all the zero pieces (bytes_zero).
// created says the file was made by this pull: its holes read as zeros already.
func (p *pull) fillZeros(created bool) (int64, error) {
	if !p.meta.Known() {
		return 0, nil
	}
	var total int64
	for i := range p.n {
		if !p.meta.IsZero(i) {
			continue
		}
		off, l := p.meta.PieceRange(i)
		if z := content.ZeroPieceHash(l); !bytes.Equal(z[:], p.meta.PieceHash(i)) {
			return 0, fmt.Errorf("zero piece %d of %s: its hash is not that of zeros", i, p.meta.InfoHash)
		}
		total += l
		if p.rec.Complete(i) {
			continue
		}
		if !created {
			if err := zeroRange(p.f, off, l); err != nil {
				return 0, fmt.Errorf("relay file %s: zero piece %d: %w", p.dataPath, i, err)
			}
		}
		// The record syncs the file before the mark reaches its disk.
		p.rec.MarkComplete(i, p.meta.PieceHash(i))
	}
	return total, nil
}

// holes answers the zero pieces of pull chunk c, for fetch.Pull.Holes: a chunk mixing data and
// zero pieces asks the origin for the data pieces only.
func (p *pull) holes(c int) []fetch.Span {
	var hs []fetch.Span
	for i := c * p.per; i < min((c+1)*p.per, p.n); i++ {
		if !p.meta.IsZero(i) {
			continue
		}
		off, l := p.meta.PieceRange(i)
		if k := len(hs) - 1; k >= 0 && hs[k].Off+hs[k].Len == off {
			hs[k].Len += l
			continue
		}
		hs = append(hs, fetch.Span{Off: off, Len: l})
	}
	return hs
}

// hasZeros reports whether the metainfo is known and marks a zero piece.
func (p *pull) hasZeros() bool {
	n, _ := p.meta.ZeroPieces()
	return p.meta.Known() && n > 0
}

var zeroBuf = make([]byte, 1<<20)

// zeroRange makes [off, off+l) of f read as zeros: a hole where the filesystem can punch one,
// else zeros written.
func zeroRange(f *os.File, off, l int64) error {
	if punchHole(f, off, l) == nil {
		return nil
	}
	for l > 0 {
		k := min(l, int64(len(zeroBuf)))
		if _, err := f.WriteAt(zeroBuf[:k], off); err != nil {
			return fmt.Errorf("write zeros at %d: %w", off, err)
		}
		off += k
		l -= k
	}
	return nil
}
