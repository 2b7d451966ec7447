// Package content builds and reads the BitTorrent metainfo of one big file: the piece size rule,
// parallel piece hashing and the whole-file checksum used to confirm a finished copy.
package content

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
)

const (
	// MinPieceLength and MaxPieceLength bound the automatic piece size.
	MinPieceLength int64 = 256 << 10
	MaxPieceLength int64 = 64 << 20
	// TargetPieces is the piece count the automatic piece size stays at or below when it can.
	TargetPieces = 4096
)

// PieceLength picks the piece size for a file of size bytes: the smallest power of two between
// 256 KiB and 64 MiB that splits the file into at most 4096 pieces. Files up to 1 GiB get 256 KiB
// pieces; from there the size doubles with the file (4 MiB from 16 GiB, 16 MiB from 64 GiB, 64 MiB
// from 256 GiB), so most images land in 2–4 k pieces; files above 256 GiB keep 64 MiB pieces and
// simply have more of them.
//
// Few pieces keep the metainfo and anacrolix's per-piece bookkeeping small (its CPU grows with
// the piece count); pieces no bigger than 64 MiB keep a failed hash cheap to refetch (half a
// second at 1 Gbit/s) and still let many peers work on one piece at once, since peers request
// 256 KiB chunks of it (swarm.ChunkSize), not whole pieces.
func PieceLength(size int64) int64 {
	pl := MinPieceLength
	for pl < MaxPieceLength && numPieces(size, pl) > TargetPieces {
		pl <<= 1
	}
	return pl
}

// numPieces is the number of pieces of length pieceLen covering size bytes.
func numPieces(size, pieceLen int64) int64 {
	if size <= 0 {
		return 0
	}
	return (size + pieceLen - 1) / pieceLen
}

// SHA256File returns the lowercase hex sha256 of the whole file at path, read as a stream.
func SHA256File(ctx context.Context, path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("sha256 of %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("sha256 of %s: %w", path, err)
	}
	sum, err := SHA256(ctx, f, fi.Size())
	if err != nil {
		return "", fmt.Errorf("sha256 of %s: %w", path, err)
	}
	return sum, nil
}

// SHA256 returns the lowercase hex sha256 of the first size bytes of r, read in order in 1 MiB
// reads. It is the one whole-file checksum of dist: publishers, relays (over a reader that waits
// for bytes still being pulled) and targets (before a copy is declared finished) all use it.
func SHA256(ctx context.Context, r io.ReaderAt, size int64) (string, error) {
	h := sha256.New()
	buf := make([]byte, 1<<20)
	n, err := io.CopyBuffer(h, ctxReader{ctx, io.NewSectionReader(r, 0, size)}, buf)
	if err != nil {
		return "", err
	}
	if n != size {
		return "", fmt.Errorf("sha256: %w: %d of %d bytes", errShortRead, n, size)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// ctxReader stops a long copy once its context is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// errShortRead reports a source that ended before the size it was said to have.
var errShortRead = errors.New("source shorter than its size")
