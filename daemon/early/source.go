package early

import (
	"context"
	"crypto/sha1"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// Reader reads bytes a host serves; ctx ends with the request (a paced read waits in it).
type Reader func(ctx context.Context, b []byte, off int64) (int, error)

// Paced answers the Reader of r that first waits for pace (the host's upload budget, shared with
// BitTorrent; nil: no budget) to allow the bytes.
func Paced(pace func(ctx context.Context, n int) error, r io.ReaderAt) Reader {
	return func(ctx context.Context, b []byte, off int64) (int, error) {
		if pace != nil {
			if err := pace(ctx, len(b)); err != nil {
				return 0, err
			}
		}
		return r.ReadAt(b, off)
	}
}

// Source is a relay's side of the exchange: the pieces its pull has landed, with their hashes in
// landing order, and how often each was given.
type Source struct {
	size, pieceLen int64
	n              int
	read           Reader
	up             *atomic.Int64
	bk             *book
	// Gate, when set, waits until the relay gives pieces at all (its start threshold).
	Gate  func(ctx context.Context) error
	now   func() time.Time
	grace time.Duration

	mu      sync.Mutex
	hashes  [][sha1.Size]byte
	order   []int32     // the pieces in the order they landed
	given   []uint32    // how often each piece was given
	givenAt []time.Time // when each piece was last given
	fresh   int         // order[:fresh] have all been given at least once
	changed chan struct{}
}

// NewSource answers the relay's side for a file of size bytes cut in pieces of pieceLen; read
// reads what was pulled (paced by the host's upload budget) and up counts what was sent.
func NewSource(size, pieceLen int64, read Reader, up *atomic.Int64) *Source {
	n := int((size + pieceLen - 1) / pieceLen)
	return &Source{size: size, pieceLen: pieceLen, n: n, read: read, up: up, bk: newBook(n),
		hashes: make([][sha1.Size]byte, n), given: make([]uint32, n), givenAt: make([]time.Time, n),
		changed: make(chan struct{}), now: time.Now, grace: DefaultGrace}
}

// Landed records that piece i was pulled and hashes to hash.
func (s *Source) Landed(i int, hash []byte) {
	if i < 0 || i >= s.n || len(hash) != sha1.Size || s.bk.has(i) {
		return
	}
	s.mu.Lock()
	copy(s.hashes[i][:], hash)
	s.order = append(s.order, int32(i))
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
	s.bk.add(i)
}

func (s *Source) book() *book              { return s.bk }
func (s *Source) geometry() (int64, int64) { return s.size, s.pieceLen }
func (s *Source) reader() Reader           { return s.read }
func (s *Source) upload() *atomic.Int64    { return s.up }

// since answers the landings from seq on (indexes and hashes), waiting until there is at least
// one or ctx ends.
func (s *Source) since(ctx context.Context, seq int) ([]int32, [][sha1.Size]byte, int) {
	for {
		s.mu.Lock()
		if seq < len(s.order) || ctx.Err() != nil {
			seq = min(max(seq, 0), len(s.order))
			idx := append([]int32(nil), s.order[seq:]...)
			hs := make([][sha1.Size]byte, len(idx))
			for k, i := range idx {
				hs[k] = s.hashes[i]
			}
			next := len(s.order)
			s.mu.Unlock()
			return idx, hs, next
		}
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
		}
	}
}

// give picks a piece for a client that holds has, and counts it given; see pick. It waits for
// a landing while there is nothing to give, until ctx ends.
func (s *Source) give(ctx context.Context, has bits, need bool) (int, [sha1.Size]byte, bool) {
	if s.Gate != nil && s.Gate(ctx) != nil {
		return 0, [sha1.Size]byte{}, false
	}
	for {
		s.mu.Lock()
		for s.fresh < len(s.order) && s.given[s.order[s.fresh]] > 0 {
			s.fresh++
		}
		now := s.now()
		i, ok := pick(s.order, s.fresh, s.given, s.givenAt, has, need, now.Add(-s.grace))
		if ok {
			s.given[i]++
			s.givenAt[i] = now
			h := s.hashes[i]
			s.mu.Unlock()
			return i, h, true
		}
		ch := s.changed
		s.mu.Unlock()
		var later <-chan time.Time
		var timer *time.Timer
		if need {
			timer = time.NewTimer(s.grace / 4) // a given piece may come out of its grace meanwhile
			later = timer.C
		}
		select {
		case <-ch:
		case <-later:
		case <-ctx.Done():
		}
		if timer != nil {
			timer.Stop()
		}
		if ctx.Err() != nil {
			return 0, [sha1.Size]byte{}, false
		}
	}
}

// ungive takes back a give whose piece did not arrive.
func (s *Source) ungive(i int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.given[i] > 0 {
		s.given[i]--
	}
	if s.given[i] == 0 {
		s.fresh = 0 // it is fresh again: the scan starts over (rare)
	}
	close(s.changed)
	s.changed = make(chan struct{})
}

// pick chooses the piece a relay gives a client that holds has. The first landed piece nobody
// was given yet comes first (order[fresh:] holds them, with some given since): that is the
// client's stripe, and the relay sends each byte once. A client in need (none of its peers holds
// what it lacks) gets the landed piece it lacks that was given least often, earliest landed
// first, among those last given before cutoff — its holder had time to pass it on and did not
// reach this client — so no piece stays held by nobody.
func pick(order []int32, fresh int, given []uint32, givenAt []time.Time, has bits, need bool, cutoff time.Time) (int, bool) {
	for _, i := range order[fresh:] {
		if given[i] == 0 && !has.has(int(i)) {
			return int(i), true
		}
	}
	if !need {
		return 0, false
	}
	best, found := 0, false
	for _, i := range order {
		if !has.has(int(i)) && givenAt[i].Before(cutoff) && (!found || given[i] < given[best]) {
			best, found = int(i), true
		}
	}
	return best, found
}
