package relay

import (
	"context"
	"fmt"
	"math"
	"sync"

	"dist/daemon/serve"
)

// pulled is what a relay holds of the file while it pulls: the pieces that have landed (verified
// against the metainfo when there is one), the pieces waiting requests want, and whether serving
// has started.
type pulled struct {
	size, pieceLen int64
	per            int   // pieces per pull chunk
	threshold      int64 // bytes held before serving starts
	waiters        int   // waiting requests that start serving before the threshold

	mu      sync.Mutex
	have    []bool
	bytes   int64         // in the pieces that have landed
	open    bool          // serving has started
	waiting int           // requests waiting for bytes
	demand  []int         // pieces waited for, oldest first
	err     error         // the pull gave up
	changed chan struct{} // closed and replaced on every change
}

func newPulled(size, pieceLen int64, per int, threshold float64, waiters int) *pulled {
	n := int((size + pieceLen - 1) / pieceLen)
	return &pulled{
		size: size, pieceLen: pieceLen, per: per, waiters: waiters,
		threshold: max(1, int64(math.Ceil(threshold*float64(size)))),
		have:      make([]bool, n),
		changed:   make(chan struct{}),
	}
}

func (p *pulled) pieceSize(i int) int64 { return min(p.pieceLen, p.size-int64(i)*p.pieceLen) }

func (p *pulled) chunks() int { return (len(p.have) + p.per - 1) / p.per }

// wake tells every waiter that something changed; callers hold p.mu.
func (p *pulled) wake() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// openIfDue starts serving once the relay holds the threshold or several requests wait; callers
// hold p.mu.
func (p *pulled) openIfDue() {
	if !p.open && (p.bytes >= p.threshold || p.waiting >= p.waiters) {
		p.open = true
		p.wake()
	}
}

// add records that piece i has landed, and reports whether it is new.
func (p *pulled) add(i int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.have[i] {
		return false
	}
	p.have[i] = true
	p.bytes += p.pieceSize(i)
	p.openIfDue()
	p.wake()
	return true
}

// fail makes every waiting and later request answer that the pull failed.
func (p *pulled) fail(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err == nil {
		p.err = err
	}
	p.wake()
}

func (p *pulled) has(i int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.have[i]
}

func (p *pulled) held() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.bytes
}

func (p *pulled) complete() bool { return p.held() == p.size }

// chunkHave reports whether every piece of pull chunk c has landed; callers do not hold p.mu.
func (p *pulled) chunkHave(c int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.chunkHaveLocked(c)
}

func (p *pulled) chunkHaveLocked(c int) bool {
	for i := c * p.per; i < min((c+1)*p.per, len(p.have)); i++ {
		if !p.have[i] {
			return false
		}
	}
	return true
}

// picker returns a fetch.Pull Next function for one pull: the chunks waiting requests want come
// first, oldest wait first; then the lowest chunk not handed out yet.
func (p *pulled) picker() func() (int, bool) {
	given := make([]bool, p.chunks())
	next := 0
	return func() (int, bool) {
		p.mu.Lock()
		defer p.mu.Unlock()
		for len(p.demand) > 0 {
			c := p.demand[0] / p.per
			p.demand = p.demand[1:]
			if !given[c] && !p.chunkHaveLocked(c) {
				given[c] = true
				return c, true
			}
		}
		for next < len(given) {
			c := next
			next++
			if !given[c] && !p.chunkHaveLocked(c) {
				given[c] = true
				return c, true
			}
		}
		return 0, false
	}
}

// waitFor blocks until the byte at off can be served, and returns how many bytes from off can be
// read at once (up to the next piece not here yet). While it waits, the piece is pulled next and
// the request counts towards starting to serve early.
func (p *pulled) waitFor(ctx context.Context, off int64) (int64, error) {
	i := int(off / p.pieceLen)
	p.mu.Lock()
	defer p.mu.Unlock()
	counted := false
	defer func() {
		if counted {
			p.waiting--
		}
	}()
	for {
		if p.have[i] && (p.open || p.bytes == p.size) {
			return p.readable(i, off), nil
		}
		if p.err != nil {
			return 0, fmt.Errorf("%w: %w", serve.ErrFailed, p.err)
		}
		if !counted {
			counted = true
			p.waiting++
			if !p.have[i] {
				p.demand = append(p.demand, i)
			}
			p.openIfDue()
			continue
		}
		if err := p.awaitChange(ctx); err != nil {
			return 0, err
		}
	}
}

// waitOpen blocks until serving has started; a caller waiting here counts as a waiting request.
func (p *pulled) waitOpen(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	counted := false
	defer func() {
		if counted {
			p.waiting--
		}
	}()
	for !p.open && p.bytes != p.size {
		if p.err != nil {
			return fmt.Errorf("%w: %w", serve.ErrFailed, p.err)
		}
		if !counted {
			counted = true
			p.waiting++
			p.openIfDue()
			continue
		}
		if err := p.awaitChange(ctx); err != nil {
			return err
		}
	}
	return nil
}

// pulledFile is the relay's file as task.Content: bytes are readable once they landed.
type pulledFile struct {
	p *pulled
	f interface {
		ReadAt([]byte, int64) (int, error)
	}
	// pace, when set, waits until n more bytes may be sent (the host's upload limit, shared with
	// BitTorrent): HTTP answers paced below the uplink leave room for the pull's acknowledgements.
	pace func(ctx context.Context, n int) error
}

func (c pulledFile) Ready(ctx context.Context, off int64) (int64, error) {
	return c.p.waitFor(ctx, off)
}

// ReadAt reads bytes to be sent; the HTTP handler reads a few KiB at a time, so the wait for the
// budget is short and needs no context of its own.
func (c pulledFile) ReadAt(b []byte, off int64) (int, error) {
	if c.pace != nil {
		if err := c.pace(context.Background(), len(b)); err != nil {
			return 0, err
		}
	}
	return c.f.ReadAt(b, off)
}

// inOrder reads the relay's file from the start as it lands, for the whole-file checksum computed
// while pulling. Unlike a request it does not count as waiting: it neither opens serving early nor
// moves pieces ahead in the pull.
type inOrder struct {
	ctx context.Context
	pulledFile
}

func (r inOrder) ReadAt(b []byte, off int64) (int, error) {
	avail, err := r.p.landed(r.ctx, off)
	if err != nil {
		return 0, err
	}
	return r.f.ReadAt(b[:min(int64(len(b)), avail)], off)
}

// landed blocks until the byte at off has landed, and answers how many bytes from off have.
func (p *pulled) landed(ctx context.Context, off int64) (int64, error) {
	i := int(off / p.pieceLen)
	p.mu.Lock()
	defer p.mu.Unlock()
	for !p.have[i] {
		if p.err != nil {
			return 0, fmt.Errorf("%w: %w", serve.ErrFailed, p.err)
		}
		if err := p.awaitChange(ctx); err != nil {
			return 0, err
		}
	}
	return p.readable(i, off), nil
}

// readable answers how many bytes from off (in piece i, which has landed) can be read at once:
// up to the next piece not here yet. Callers hold p.mu.
func (p *pulled) readable(i int, off int64) int64 {
	end := i + 1
	for end < len(p.have) && p.have[end] {
		end++
	}
	return min(int64(end)*p.pieceLen, p.size) - off
}

// awaitChange releases p.mu until the next change or the end of ctx, and takes it again. Callers
// hold p.mu.
func (p *pulled) awaitChange(ctx context.Context) error {
	ch := p.changed
	p.mu.Unlock()
	select {
	case <-ch:
	case <-ctx.Done():
	}
	p.mu.Lock()
	return ctx.Err()
}
