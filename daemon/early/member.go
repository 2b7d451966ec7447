package early

import (
	"context"
	"sync/atomic"
)

// Member is a client's side of the exchange: the pieces it holds, verified, which its peers may
// fetch.
type Member struct {
	size, pieceLen int64
	read           Reader
	up             *atomic.Int64
	bk             *book
}

// NewMember answers a client's side for a file of size bytes in pieces of pieceLen; read reads
// what the client holds, up counts what it sent.
func NewMember(size, pieceLen int64, read Reader, up *atomic.Int64) *Member {
	n := int((size + pieceLen - 1) / pieceLen)
	return &Member{size: size, pieceLen: pieceLen, read: read, up: up, bk: newBook(n)}
}

// Add makes piece i (verified and written) available to peers.
func (m *Member) Add(i int) { m.bk.add(i) }

// Wait blocks until piece i is here or ctx ends.
func (m *Member) Wait(ctx context.Context, i int) error {
	var v uint64
	for !m.bk.has(i) {
		if err := ctx.Err(); err != nil {
			return err
		}
		v = m.bk.waitChange(ctx, v)
	}
	return nil
}

// Full reports whether every piece is here.
func (m *Member) Full() bool { return m.bk.full() }

func (m *Member) book() *book              { return m.bk }
func (m *Member) geometry() (int64, int64) { return m.size, m.pieceLen }
func (m *Member) reader() Reader           { return m.read }
func (m *Member) upload() *atomic.Int64    { return m.up }

// holder is what answers have and piece.
type holder interface {
	book() *book
	geometry() (size, pieceLen int64)
	reader() Reader
	upload() *atomic.Int64
}
