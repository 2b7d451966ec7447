package swarm

import (
	"crypto/sha1"
	"sync"

	"github.com/anacrolix/torrent/metainfo"
)

// Pieces of one chunk (every piece of a file up to 1 GiB: 256 KiB pieces, 256 KiB chunks) are
// hashed from the buffer that writes them instead of being read back for anacrolix's check: the
// read back cost a pread copy of every byte received, and the smart-ban check hashed every byte
// once more. Such a piece arrives in one write from one peer, so a piece that fails its hash has
// that peer as its only contributor and anacrolix bans it for that alone (what smart-ban adds
// is telling apart the peers of a piece assembled from several). Pieces of several chunks, and
// every device, keep anacrolix's own check, which reads the piece back with the smart-ban check.
//
// A sum stands for the bytes on disk only while no other write touched the piece since: every
// write of the store goes through writeSummed, which holds the piece's lock across its pwrite,
// so the last write of a piece and its sum cannot come apart. A sum is used once: a later check
// (a restart's, a reverify) reads the piece back.

// pieceSum is the SHA-1 of a piece as its last whole write left it.
type pieceSum struct {
	mu  sync.Mutex
	ok  bool
	sum [sha1.Size]byte
}

// sumWrites turns write-time sums on for a store whose every piece is at most one chunk.
func (s *store) sumWrites(chunk int) {
	if s.device || s.readOnly || s.meta.PieceLen > int64(chunk) {
		return
	}
	s.sums = make([]pieceSum, s.meta.NumPieces)
}

// writeSummed writes b at off: a write of exactly one whole piece records its sum, any other
// write forgets the sums of the pieces it touches.
func (s *store) writeSummed(b []byte, off int64) (int, error) {
	if len(b) == 0 {
		return s.pwrite(b, off)
	}
	first := int(off / s.meta.PieceLen)
	last := int((off + int64(len(b)) - 1) / s.meta.PieceLen)
	if first < 0 || last >= len(s.sums) {
		return s.pwrite(b, off) // out of range: the file answers the error
	}
	if pOff, pLen := s.meta.PieceRange(first); first == last && off == pOff && int64(len(b)) == pLen {
		return s.writeWhole(first, b, sha1.Sum(b))
	}
	for i := first; i <= last; i++ { // in order: two writes never wait on each other in a cycle
		ps := &s.sums[i]
		ps.mu.Lock()
		defer ps.mu.Unlock()
		ps.ok = false
	}
	return s.pwrite(b, off)
}

// writeWhole writes b as all of piece i and records sum, the SHA-1 of b, as the piece's. A caller
// that has just hashed b itself (InjectPiece) passes its sum, and the bytes are hashed once.
func (s *store) writeWhole(i int, b []byte, sum [sha1.Size]byte) (int, error) {
	ps := &s.sums[i]
	ps.mu.Lock()
	defer ps.mu.Unlock()
	n, err := s.pwrite(b, int64(i)*s.meta.PieceLen)
	ps.ok, ps.sum = err == nil && n == len(b), sum
	return n, err
}

// takeSum answers (and forgets) the sum of piece i's last whole write, if nothing wrote it since.
func (s *store) takeSum(i int) ([sha1.Size]byte, bool) {
	ps := &s.sums[i]
	ps.mu.Lock()
	defer ps.mu.Unlock()
	ok := ps.ok
	ps.ok = false
	return ps.sum, ok
}

// wholePiece is a piece of a store that sums its writes.
type wholePiece struct{ piece }

// SelfHash is what anacrolix checks the piece with instead of reading it (storage.SelfHashing):
// the sum of its last whole write, or, when there is none (the initial check of a file that was
// already there, a piece written in parts), the hash of the piece read back.
func (p wholePiece) SelfHash() (metainfo.Hash, error) {
	if sum, ok := p.s.takeSum(p.i); ok {
		return sum, nil
	}
	h := sha1.New()
	if _, err := p.WriteTo(h); err != nil {
		return metainfo.Hash{}, err
	}
	var sum metainfo.Hash
	h.Sum(sum[:0])
	return sum, nil
}
