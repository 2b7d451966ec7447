package swarm

import (
	"bytes"
	"context"
	"crypto/sha1"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"dist/core/content"
)

// Some pieces of a torrent that fetches can be filled from this host instead of the network:
//
//   - Zero pieces (content.Meta.IsZero) are written here: nothing at all in a data file this
//     torrent just created (its sparse holes read as zeros) or on a device said to read as zeros
//     (Spec.Zeroed), a punched hole in an older file (zeros written where the filesystem cannot
//     punch), zeros on a device. The mark was checked against the piece hash when the metainfo
//     was parsed and is checked again here, so a piece with data is never skipped on a mark.
//   - With a base (Spec.Base, Spec.BaseInPlace: an older version of the content, at the
//     destination), each piece whose bytes at the same offset in the base hash to the new
//     piece's hash is copied from it (or kept where it is), and counts as kept.
//
// Pieces that need no I/O are recorded complete in Add, before anacrolix reads the record. The
// rest are left out of what anacrolix requests and filled by one goroutine in piece order (one
// sequential pass over the base); each is then recorded complete and announced, or, when the
// base does not match or a write fails, handed to BitTorrent. Missing leaves out the pieces
// still waiting for it, so the HTTP assist does not fetch them either.

// localBuf is the read size of the filler and what zeros are written from.
const localBuf = 1 << 20

var zeroBuf = make([]byte, localBuf)

// localFill is the state of a torrent's filler.
type localFill struct {
	base     io.ReaderAt // nil: the store itself (in place) or no base
	baseSize int64
	inPlace  bool
	stop     context.CancelFunc
	done     chan struct{}

	mu      sync.Mutex
	pending map[int]struct{} // pieces still to be tried
}

// planLocal runs in Add before anacrolix sees the torrent: it records complete the zero pieces
// that need no write (answering their bytes) and lists, in order, the pieces the filler is to
// try. Those are set incomplete in the record, so anacrolix never hashes them behind its back.
func (s *store) planLocal(zeroed, base bool) (pending []int, zeroBytes int64, err error) {
	for i := range s.meta.NumPieces {
		c := s.rec.completion(i)
		if c.Complete {
			continue
		}
		_, l := s.meta.PieceRange(i)
		switch {
		case s.meta.IsZero(i):
			if z := content.ZeroPieceHash(l); !bytes.Equal(z[:], s.meta.PieceHash(i)) {
				return nil, 0, fmt.Errorf("zero piece %d of %s: its hash is not that of zeros", i, s.meta.InfoHash)
			}
			if zeroed {
				// The record syncs the data file before the mark reaches its disk.
				s.rec.MarkComplete(i, s.meta.PieceHash(i))
				zeroBytes += l
				continue
			}
		case !base || !c.Ok:
			// Unknown pieces of an existing file are anacrolix's to hash.
			continue
		}
		if !c.Ok {
			if err := s.rec.MarkIncomplete(i); err != nil {
				return nil, 0, err
			}
		}
		pending = append(pending, i)
	}
	return pending, zeroBytes, nil
}

// wanted hands anacrolix every piece but those in pending (sorted): runs of them at a time.
func wanted(n int, pending []int, download func(begin, end int)) {
	next := 0
	for _, p := range pending {
		if p > next {
			download(next, p)
		}
		next = p + 1
	}
	if next < n {
		download(next, n)
	}
}

// startFill starts the filler over pending.
func (t *Torrent) startFill(pending []int, lf *localFill) {
	lf.pending = make(map[int]struct{}, len(pending))
	for _, i := range pending {
		lf.pending[i] = struct{}{}
	}
	ctx, stop := context.WithCancel(context.Background())
	lf.stop, lf.done = stop, make(chan struct{})
	t.local = lf
	go func() {
		defer close(lf.done)
		defer lf.closeBase()
		buf := make([]byte, localBuf)
		for _, i := range pending {
			if ctx.Err() != nil {
				return
			}
			ok, err := t.fillPiece(i, buf)
			if err != nil {
				t.n.log.Warn("piece not filled locally: fetching it", "torrent", t.meta.InfoHash, "piece", i, "err", err)
			}
			lf.mu.Lock()
			delete(lf.pending, i)
			lf.mu.Unlock()
			if ok {
				t.st.rec.MarkComplete(i, t.meta.PieceHash(i))
				t.t.Piece(i).UpdateCompletion() // anacrolix rereads the record and sends HAVE
			} else {
				t.t.DownloadPieces(i, i+1)
			}
		}
	}()
}

// fillPiece writes zero piece i, or takes piece i from the base; false: BitTorrent must fetch it.
func (t *Torrent) fillPiece(i int, buf []byte) (bool, error) {
	off, l := t.meta.PieceRange(i)
	lf := t.local
	if t.meta.IsZero(i) {
		// A device updated in place often holds the zeros already: reading them spares the
		// writes.
		if !lf.inPlace || !t.st.zeroAt(buf, off, l) {
			if err := t.st.zeroRange(off, l); err != nil {
				return false, err
			}
		}
		t.zeroBytes.Add(l)
		return true, nil
	}
	if !lf.inPlace && off+l > lf.baseSize {
		return false, nil
	}
	// One read: hashed, and copied at once (a piece that turns out not to match is incomplete
	// and rewritten by BitTorrent chunk by chunk).
	h := sha1.New()
	for pos, end := off, off+l; pos < end; {
		b := buf[:min(int64(len(buf)), end-pos)]
		var n int
		var err error
		if lf.inPlace {
			n, err = t.st.readAt(b, pos)
		} else {
			n, err = lf.base.ReadAt(b, pos)
		}
		if n < len(b) || (err != nil && !errors.Is(err, io.EOF)) {
			if err == nil {
				err = io.ErrUnexpectedEOF
			}
			return false, fmt.Errorf("read base at %d: %w", pos, err)
		}
		h.Write(b)
		if !lf.inPlace {
			if _, err := t.st.writeAt(b, pos); err != nil {
				return false, fmt.Errorf("copy base at %d: %w", pos, err)
			}
		}
		pos += int64(len(b))
	}
	if !bytes.Equal(h.Sum(nil), t.meta.PieceHash(i)) {
		return false, nil
	}
	t.keptBytes.Add(l)
	return true, nil
}

// waiting reports whether piece i is still the filler's.
func (lf *localFill) waiting(i int) bool {
	if lf == nil {
		return false
	}
	lf.mu.Lock()
	defer lf.mu.Unlock()
	_, ok := lf.pending[i]
	return ok
}

// halt stops the filler and waits for it.
func (lf *localFill) halt() {
	if lf == nil {
		return
	}
	lf.stop()
	<-lf.done
}

func (lf *localFill) closeBase() {
	if c, ok := lf.base.(io.Closer); ok {
		_ = c.Close()
	}
}

// zeroAt reports whether [off, off+l) of the storage reads as zeros, through buf.
func (s *store) zeroAt(buf []byte, off, l int64) bool {
	for end := off + l; off < end; {
		b := buf[:min(int64(len(buf)), end-off)]
		if n, err := s.readAt(b, off); n < len(b) || (err != nil && !errors.Is(err, io.EOF)) {
			return false
		}
		if !bytes.Equal(b, zeroBuf[:len(b)]) {
			return false
		}
		off += int64(len(b))
	}
	return true
}

// zeroRange makes [off, off+l) of the storage read as zeros: a hole in a file where the
// filesystem can punch one, else zeros written.
func (s *store) zeroRange(off, l int64) error {
	s.mu.RLock()
	f, isFile := s.f.(*os.File)
	s.mu.RUnlock()
	if isFile && !s.device && punchHole(f, off, l) == nil {
		return nil
	}
	for l > 0 {
		k := min(l, int64(len(zeroBuf)))
		if _, err := s.writeAt(zeroBuf[:k], off); err != nil {
			return fmt.Errorf("write zeros at %d: %w", off, err)
		}
		off += k
		l -= k
	}
	return nil
}
