package content

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
)

// Sums is what one pass over a file yields: the SHA-1 of every piece (the metainfo's "pieces")
// and the whole-file SHA-256 (lowercase hex).
type Sums struct {
	Pieces []byte
	SHA256 string
}

// onePassBlock is the read size of Hash: large enough that a disk or a plugin sees few big
// sequential reads, small enough that the buffers in flight stay a few tens of MiB.
const onePassBlock = 4 << 20

// buffer is one of Hash's recycled read buffers; refs counts the hashers still to see its bytes,
// and the last one hands it back.
type buffer struct {
	b    []byte
	refs atomic.Int32
}

// block is one read of Hash handed to the hashers: buf.b[:n] holds bytes of piece, and last says
// it ends the piece.
type block struct {
	buf   *buffer
	n     int
	piece int64
	last  bool
}

// Hash reads the first size bytes of r once, in order, and computes both the piece SHA-1s and
// the whole-file SHA-256 from that one read. One goroutine reads (sequential reads suit disks and
// plugins); the SHA-256, which must see the bytes in order, runs on its own goroutine; the SHA-1s
// run on shaWorkers goroutines (<= 0: GOMAXPROCS-1, at least 1), each taking whole pieces (piece
// i goes to worker i mod shaWorkers), so a piece's bytes reach its hasher in order. Buffers go
// round a fixed pool of shaWorkers+4 blocks of 4 MiB (20 MiB on two cores) whatever the file or
// piece size, and nothing is allocated per piece.
//
// Over the page cache on two cores with SHA extensions this runs at the speed of the slower of
// the two hashes instead of the sum of two separate passes (BenchmarkHash).
func Hash(ctx context.Context, r io.ReaderAt, size, pieceLen int64, shaWorkers int) (Sums, error) {
	if size < 0 {
		return Sums{}, fmt.Errorf("hash: negative size %d", size)
	}
	if pieceLen <= 0 {
		return Sums{}, fmt.Errorf("hash: piece length %d must be positive", pieceLen)
	}
	n := numPieces(size, pieceLen)
	if shaWorkers <= 0 {
		shaWorkers = runtime.GOMAXPROCS(0) - 1
	}
	shaWorkers = int(max(1, min(int64(shaWorkers), n)))
	bs := int(min(pieceLen, onePassBlock, max(size, 1)))

	// One block per SHA-1 worker, a few queued for the SHA-256 (the slower hash, which every
	// block goes through) and one being read: more would only let the SHA-1s run further ahead.
	nbuf := shaWorkers + 4
	free := make(chan *buffer, nbuf)
	for range nbuf {
		free <- &buffer{b: make([]byte, bs)}
	}
	release := func(b block) {
		if b.buf.refs.Add(-1) == 0 {
			free <- b.buf
		}
	}

	out := make([]byte, n*sha1.Size)
	sha := sha256.New()
	var wg sync.WaitGroup
	whole := make(chan block, nbuf)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for b := range whole {
			sha.Write(b.buf.b[:b.n])
			release(b)
		}
	}()
	lanes := make([]chan block, shaWorkers)
	for w := range lanes {
		lanes[w] = make(chan block, nbuf)
		wg.Add(1)
		go func(in <-chan block) {
			defer wg.Done()
			h := sha1.New()
			for b := range in {
				h.Write(b.buf.b[:b.n])
				if b.last {
					h.Sum(out[b.piece*sha1.Size : b.piece*sha1.Size : (b.piece+1)*sha1.Size])
					h.Reset()
				}
				release(b)
			}
		}(lanes[w])
	}

	err := func() error {
		for p := int64(0); p < n; p++ {
			off, end := p*pieceLen, min((p+1)*pieceLen, size)
			for off < end {
				if err := ctx.Err(); err != nil {
					return err
				}
				var buf *buffer
				select {
				case buf = <-free:
				case <-ctx.Done():
					return ctx.Err()
				}
				k := int(min(int64(bs), end-off))
				got, err := r.ReadAt(buf.b[:k], off)
				if got < k {
					free <- buf
					if err == nil || err == io.EOF {
						err = errShortRead
					}
					return fmt.Errorf("hash piece %d: read at %d: %w", p, off, err)
				}
				off += int64(k)
				buf.refs.Store(2)
				b := block{buf: buf, n: k, piece: p, last: off == end}
				whole <- b
				lanes[p%int64(shaWorkers)] <- b
			}
		}
		return nil
	}()
	close(whole)
	for _, l := range lanes {
		close(l)
	}
	wg.Wait()
	if err != nil {
		return Sums{}, err
	}
	return Sums{Pieces: out, SHA256: hex.EncodeToString(sha.Sum(nil))}, nil
}
