package tui

import "time"

// rateWindow is how far back a rate looks. Hosts report every few seconds, so the rate between two
// one-second refreshes would jump between zero and bursts.
const rateWindow = 5 * time.Second

// rates turns monotonic byte counters into rates over the last rateWindow. It is pure: the caller
// passes the time of each reading. Counters not read in a refresh are forgotten by sweep, so a
// distribution that leaves the list does not hold memory.
type rates struct {
	last map[string][]reading // oldest first
	seen map[string]bool
}

type reading struct {
	at time.Time
	v  int64
}

func newRates() *rates { return &rates{last: map[string][]reading{}, seen: map[string]bool{}} }

// rate records counter key at v and answers its rate in units/s over the readings of the last
// rateWindow; -1 (unknown, shown "-") on the first reading or when time did not advance, 0 when the
// counter went back (a restarted task).
func (r *rates) rate(key string, at time.Time, v int64) float64 {
	return r.rateOver(key, at, v, rateWindow)
}

// rateOver is rate over the readings of the last window: a counter that moves in steps (an
// origin's spent bytes, accounted at each lease renewal) needs a longer look than rateWindow.
func (r *rates) rateOver(key string, at time.Time, v int64, window time.Duration) float64 {
	r.seen[key] = true
	rs := r.last[key]
	restarted := len(rs) > 0 && v < rs[len(rs)-1].v
	if restarted {
		rs = nil
	}
	rs = append(rs, reading{at, v})
	// Keep one reading at least rateWindow old, and nothing older than needed for it.
	for len(rs) > 2 && at.Sub(rs[1].at) >= window {
		rs = rs[1:]
	}
	r.last[key] = rs
	first := rs[0]
	dt := at.Sub(first.at).Seconds()
	if dt <= 0 {
		if restarted {
			return 0
		}
		return -1
	}
	return float64(v-first.v) / dt
}

// sweep forgets the counters not read since the previous sweep.
func (r *rates) sweep() {
	for k := range r.last {
		if !r.seen[k] {
			delete(r.last, k)
		}
	}
	clear(r.seen)
}
