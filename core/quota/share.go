package quota

import (
	"cmp"
	"math"
	"slices"
	"strings"
	"time"
)

// cand is one holder (leased or waiting) while targets are computed.
type cand struct {
	holder       string
	relay        bool
	weight       float64
	wantConns    int   // 0 = no wish
	wantRate     int64 // 0 = no wish
	held         int   // conns its live lease holds; 0 when waiting
	waitSince    time.Time
	grantedSince time.Time

	conns int     // target connections
	frac  float64 // fractional part dropped when rounding conns down
	rate  float64 // target bytes/s; Unlimited when uncapped
}

// waterfill splits total among items in proportion to ws, giving no item more than its want
// (0 = no limit) and passing what an item does not want on to the others.
func waterfill(total float64, ws, wants []float64) []float64 {
	out := make([]float64, len(ws))
	open := make([]int, 0, len(ws))
	for i := range ws {
		open = append(open, i)
	}
	for total > 0 && len(open) > 0 {
		sum := 0.0
		for _, i := range open {
			sum += ws[i]
		}
		if sum <= 0 {
			break
		}
		// Satisfy every item whose proportional share covers its want, then split again.
		next := open[:0:0]
		given := 0.0
		for _, i := range open {
			if wants[i] > 0 && total*ws[i]/sum >= wants[i] {
				out[i] = wants[i]
				given += wants[i]
			} else {
				next = append(next, i)
			}
		}
		if len(next) == len(open) {
			for _, i := range open {
				out[i] = total * ws[i] / sum
			}
			break
		}
		total -= given
		open = next
	}
	return out
}

// fillConns sets the target conns of cs from total whole connections and answers how many it used.
// When there are at least as many connections as holders, everyone gets one at least (a holder
// with none cannot fetch at all) and the rest is split by weight; otherwise holders take turns, as
// leftoverOrder says.
func fillConns(total int, cs []*cand) int {
	for _, c := range cs {
		c.conns, c.frac = 0, 0
	}
	if total <= 0 || len(cs) == 0 {
		return 0
	}
	shares := make([]float64, len(cs))
	one := make([]bool, len(cs)) // fixed at one connection
	rest := total
	for {
		var idx []int
		var ws, wants []float64
		for i, c := range cs {
			if !one[i] {
				idx = append(idx, i)
				ws, wants = append(ws, c.weight), append(wants, float64(c.wantConns))
			}
		}
		split := waterfill(float64(rest), ws, wants)
		bumped := false
		if total >= len(cs) {
			// Raising the smallest shares to one lowers the others; repeat until none is below.
			for j, i := range idx {
				if split[j] < 1 {
					one[i], shares[i] = true, 1
					rest--
					bumped = true
				}
			}
		}
		if !bumped {
			for j, i := range idx {
				shares[i] = split[j]
			}
			break
		}
	}
	used := 0
	for i, c := range cs {
		f := math.Floor(shares[i] + 1e-9)
		c.conns, c.frac = int(f), max(0, shares[i]-f)
		used += c.conns
	}
	var room []*cand
	for _, c := range cs {
		if c.wantConns == 0 || c.conns < c.wantConns {
			room = append(room, c)
		}
	}
	slices.SortFunc(room, leftoverOrder)
	for _, c := range room {
		if used >= total {
			break
		}
		c.conns++
		used++
	}
	return used
}

// leftoverOrder ranks holders for the connections left after rounding down. Holders that would get
// none come first; among those, waiting
// holders by how long they have waited, then holders by how recently their grant began (the
// longest-served yields first): when connections are short, holders take turns. Among the others,
// the one already holding the extra connection keeps it (fewer reconnects), then the largest
// fractional share. Names break ties so the same facts give the same answer.
func leftoverOrder(a, b *cand) int {
	if sa, sb := a.conns == 0, b.conns == 0; sa != sb {
		if sa {
			return -1
		}
		return 1
	} else if sa {
		if wa, wb := a.held == 0, b.held == 0; wa != wb {
			if wa {
				return -1
			}
			return 1
		} else if wa {
			if c := a.waitSince.Compare(b.waitSince); c != 0 {
				return c
			}
		} else if c := b.grantedSince.Compare(a.grantedSince); c != 0 {
			return c
		}
	} else {
		if ea, eb := a.held > a.conns, b.held > b.conns; ea != eb {
			if ea {
				return -1
			}
			return 1
		}
		if c := cmp.Compare(b.frac, a.frac); c != 0 {
			return c
		}
	}
	return strings.Compare(a.holder, b.holder)
}

// fillRate sets the target rate of cs from total bytes/s and answers how much it used.
func fillRate(total float64, cs []*cand) float64 {
	for _, c := range cs {
		c.rate = 0
	}
	if total <= 0 || len(cs) == 0 {
		return 0
	}
	ws := make([]float64, len(cs))
	wants := make([]float64, len(cs))
	for i, c := range cs {
		ws[i], wants[i] = c.weight, float64(c.wantRate)
	}
	used := 0.0
	for i, r := range waterfill(total, ws, wants) {
		cs[i].rate = r
		used += r
	}
	return used
}

// plan computes every candidate's target: conns first, then rate among those with conns, each
// cap split relays first. connsCap and rateCap are the target caps (0 = unlimited).
func plan(cs []*cand, connsCap int, rateCap float64) {
	var relays, clients []*cand
	for _, c := range cs {
		if c.relay {
			relays = append(relays, c)
		} else {
			clients = append(clients, c)
		}
	}
	if connsCap <= 0 {
		for _, c := range cs {
			c.conns = c.wantConns
			if c.conns == 0 {
				c.conns = DefaultConns
			}
		}
	} else {
		used := fillConns(connsCap, relays)
		fillConns(connsCap-used, clients)
	}
	if rateCap <= 0 {
		for _, c := range cs {
			c.rate = Unlimited
			if c.wantRate > 0 {
				c.rate = float64(c.wantRate)
			}
		}
		return
	}
	active := func(cs []*cand) []*cand {
		var out []*cand
		for _, c := range cs {
			if c.conns > 0 {
				out = append(out, c)
			} else {
				c.rate = 0
			}
		}
		return out
	}
	used := fillRate(rateCap, active(relays))
	fillRate(rateCap-used, active(clients))
}
