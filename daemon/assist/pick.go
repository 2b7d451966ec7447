package assist

import (
	"cmp"
	"slices"
	"time"
)

// Candidate is a missing piece as the piece choice sees it.
type Candidate struct {
	Piece int
	Size  int64 // bytes of the piece
	Got   int64 // bytes BitTorrent has of it already
	Avail int   // connected peers that have it
	// Live says BitTorrent is still working on it: a connected peer has it and its bytes grew
	// within the stall window. A piece BitTorrent half-fetched from a peer that left is not live.
	Live bool
	Tie  int // random: clients fetching over HTTP at once spread over different pieces
}

// Pick chooses up to n pieces for HTTP, rarest among the connected peers first. A piece
// BitTorrent has fetched half of or more is left to it while BitTorrent is live on it; among the
// rest, pieces BitTorrent has not touched come first, then those it has least of (BitTorrent asks
// for blocks of many pieces at once, so on a slow link nearly every missing piece is "started"
// and HTTP would otherwise find nothing to take). cands is reordered.
func Pick(cands []Candidate, n int) []int {
	if n <= 0 {
		return nil
	}
	kept := cands[:0]
	for _, c := range cands {
		if c.Got*2 >= c.Size && c.Live {
			continue
		}
		kept = append(kept, c)
	}
	slices.SortFunc(kept, func(x, y Candidate) int {
		if (x.Got == 0) != (y.Got == 0) {
			if x.Got == 0 {
				return -1
			}
			return 1
		}
		if x.Avail != y.Avail {
			return x.Avail - y.Avail
		}
		if x.Got != y.Got {
			return cmp.Compare(x.Got, y.Got)
		}
		return x.Tie - y.Tie
	})
	out := make([]int, 0, min(n, len(kept)))
	for _, c := range kept[:min(n, len(kept))] {
		out = append(out, c.Piece)
	}
	return out
}

// progress follows how BitTorrent's partial pieces grow, to tell a live piece from a stalled one.
type progress struct {
	stall time.Duration
	seen  map[int]mark
}

type mark struct {
	got int64
	at  time.Time
}

func newProgress(stall time.Duration) *progress {
	return &progress{stall: stall, seen: map[int]mark{}}
}

// live notes that piece i has got bytes at now and answers whether they grew within the stall
// window (a piece seen for the first time counts as growing).
func (p *progress) live(i int, got int64, now time.Time) bool {
	m, ok := p.seen[i]
	if !ok || got != m.got {
		p.seen[i] = mark{got: got, at: now}
		return true
	}
	return now.Sub(m.at) < p.stall
}
