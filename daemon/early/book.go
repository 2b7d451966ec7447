package early

import (
	"context"
	"sync"
)

// bits is a have bitmap: piece i is bit i%8 of byte i/8.
type bits []byte

func newBits(n int) bits { return make(bits, (n+7)/8) }

func (b bits) has(i int) bool {
	return i >= 0 && i/8 < len(b) && b[i/8]&(1<<(i%8)) != 0
}

func (b bits) set(i int) { b[i/8] |= 1 << (i % 8) }

// book is the pieces a host holds, verified, with a version that grows with every piece, so that
// peers wait for a change instead of asking again and again.
type book struct {
	n int

	mu      sync.Mutex
	have    bits
	count   int
	version uint64
	changed chan struct{} // closed and replaced on every change
}

func newBook(n int) *book {
	return &book{n: n, have: newBits(n), changed: make(chan struct{})}
}

// add records piece i, and reports whether it is new.
func (b *book) add(i int) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if i < 0 || i >= b.n || b.have.has(i) {
		return false
	}
	b.have.set(i)
	b.count++
	b.version++
	close(b.changed)
	b.changed = make(chan struct{})
	return true
}

func (b *book) has(i int) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.have.has(i)
}

func (b *book) full() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.count == b.n
}

// waitChange waits until the version differs from v (or ctx ends) and answers the version.
func (b *book) waitChange(ctx context.Context, v uint64) uint64 {
	for {
		b.mu.Lock()
		if b.version != v || ctx.Err() != nil {
			ver := b.version
			b.mu.Unlock()
			return ver
		}
		ch := b.changed
		b.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
		}
	}
}

// snapshotFull answers a copy of the bitmap and its version now, and whether every piece is here.
func (b *book) snapshotFull() (bits, uint64, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append(bits(nil), b.have...), b.version, b.count == b.n
}

// snapshot answers a copy of the bitmap and its version now.
func (b *book) snapshot() (bits, uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append(bits(nil), b.have...), b.version
}
