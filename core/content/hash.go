package content

import (
	"context"
	"crypto/sha1"
	"fmt"
	"hash"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
)

// maxReadChunk bounds each worker's buffer: big enough that a block device or a plugin sees few,
// large reads, small enough that many workers over 16 MiB pieces stay cheap.
const maxReadChunk = 4 << 20

// HashPieces returns the SHA-1 of every piece of the first size bytes of r, concatenated in piece
// order (20 bytes each), as the "pieces" field of a metainfo wants them. Pieces are hashed by
// workers goroutines at once (<= 0 means runtime.GOMAXPROCS(0)); each claims the next unhashed
// piece and reads it through its own reusable buffer, so memory stays at workers × min(pieceLen,
// 4 MiB) whatever the file size. It stops early when ctx is done or a read fails.
func HashPieces(ctx context.Context, r io.ReaderAt, size, pieceLen int64, workers int) ([]byte, error) {
	if size < 0 {
		return nil, fmt.Errorf("hash pieces: negative size %d", size)
	}
	if pieceLen <= 0 {
		return nil, fmt.Errorf("hash pieces: piece length %d must be positive", pieceLen)
	}
	n := numPieces(size, pieceLen)
	out := make([]byte, n*sha1.Size)
	if n == 0 {
		return out, ctx.Err()
	}
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = int(min(int64(workers), n))

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, min(pieceLen, maxReadChunk))
			h := sha1.New()
			for {
				i := next.Add(1) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				off := i * pieceLen
				if err := hashRange(h, r, buf, off, min(pieceLen, size-off)); err != nil {
					cancel(fmt.Errorf("hash piece %d: %w", i, err))
					return
				}
				h.Sum(out[i*sha1.Size : i*sha1.Size : (i+1)*sha1.Size])
			}
		}()
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return nil, err
	}
	return out, nil
}

// hashRange resets h and feeds it bytes [off, off+length) of r.
func hashRange(h interface {
	io.Writer
	Reset()
}, r io.ReaderAt, buf []byte, off, length int64) error {
	h.Reset()
	for length > 0 {
		b := buf[:min(int64(len(buf)), length)]
		got, err := r.ReadAt(b, off)
		if got < len(b) {
			if err == nil || err == io.EOF {
				err = errShortRead
			}
			return fmt.Errorf("read at %d: %w", off, err)
		}
		h.Write(b)
		off += int64(got)
		length -= int64(got)
	}
	return nil
}

// Pieces hashes a file's bytes as they come, in order from a piece boundary, and hands each
// piece's SHA-1 to Done once the piece is whole: the relay's pull (a chunk of whole pieces at a
// time) and a client's early stream (any slice at a time) cut pieces by this one rule.
type Pieces struct {
	Size, PieceLen int64
	// Done receives piece i's hash once its last byte was written.
	Done func(i int, sum [sha1.Size]byte)

	off   int64 // next byte
	piece int
	h     hash.Hash
}

// From starts the hashing at the first byte of piece i (a resumed stream).
func (p *Pieces) From(i int) {
	p.piece, p.off, p.h = i, int64(i)*p.PieceLen, nil
}

// Offset is the next byte the hasher expects.
func (p *Pieces) Offset() int64 { return p.off }

// Write feeds the bytes that continue at Offset.
func (p *Pieces) Write(b []byte) (int, error) {
	if p.h == nil {
		p.h = sha1.New()
	}
	n := len(b)
	for len(b) > 0 {
		end := min(int64(p.piece+1)*p.PieceLen, p.Size)
		k := min(int64(len(b)), end-p.off)
		if k <= 0 {
			return n - len(b), fmt.Errorf("hash pieces: %d bytes past the end at %d", len(b), p.Size)
		}
		p.h.Write(b[:k])
		p.off += k
		b = b[k:]
		if p.off == end {
			var sum [sha1.Size]byte
			p.h.Sum(sum[:0])
			p.h.Reset()
			if p.Done != nil {
				p.Done(p.piece, sum)
			}
			p.piece++
		}
	}
	return n, nil
}
