package selection

import (
	"cmp"
	"slices"

	"dist/core/api"
)

// The indexed Pick answers what the plain greedy loop (pickScan) answers at a cost that does not
// multiply relays by candidates: candidates of one site and region share the locality keys of
// better, so each (site, region) group only needs its own best, found by load (a fixed key) and
// then history. History only falls as sites get covered (perSite only shrinks and throughputs are
// not negative), except when a picked relay's site first enters perSite; a lazy heap whose top is
// re-checked before it is trusted therefore gives the exact best, and that one exception re-scores
// the few candidates it concerns.

// pickItem is a candidate in its group's heap.
type pickItem struct {
	c    *Candidate
	name string
	tp   []siteRate // c.Throughput by site index
	hist int64      // history when last scored: never below the current one
	blk  *pickBlock
	pos  int // index in blk.h; -1 once picked
}

type siteRate struct {
	site int32
	rate int64
}

// siteWeights mirrors perSite by site index, so that scoring a candidate reads no map.
type siteWeights struct {
	w   []int
	has []bool
}

// score is history(c, perSite), from the mirror.
func (sw *siteWeights) score(tp []siteRate) int64 {
	var sum int64
	for _, x := range tp {
		if sw.has[x.site] {
			sum += x.rate * int64(max(sw.w[x.site], 1))
		}
	}
	return sum
}

// pickBlock holds a group's candidates of one load (Active, Transfers, UpRate), best history first.
type pickBlock struct {
	active, transfers int
	upRate            int64
	h                 []*pickItem // a heap by (hist desc, name)
}

func (b *pickBlock) less(i, j int) bool {
	x, y := b.h[i], b.h[j]
	if x.hist != y.hist {
		return x.hist > y.hist
	}
	return x.name < y.name
}

func (b *pickBlock) swap(i, j int) {
	b.h[i], b.h[j] = b.h[j], b.h[i]
	b.h[i].pos, b.h[j].pos = i, j
}

func (b *pickBlock) up(j int) {
	for j > 0 {
		p := (j - 1) / 2
		if !b.less(j, p) {
			return
		}
		b.swap(j, p)
		j = p
	}
}

func (b *pickBlock) down(j int) {
	for {
		l, best := 2*j+1, j
		if l < len(b.h) && b.less(l, best) {
			best = l
		}
		if r := l + 1; r < len(b.h) && b.less(r, best) {
			best = r
		}
		if best == j {
			return
		}
		b.swap(j, best)
		j = best
	}
}

func (b *pickBlock) fix(j int) { b.up(j); b.down(j) }

func (b *pickBlock) init() {
	for j := len(b.h)/2 - 1; j >= 0; j-- {
		b.down(j)
	}
}

func (b *pickBlock) pop() {
	last := len(b.h) - 1
	b.swap(0, last)
	b.h[last].pos = -1
	b.h = b.h[:last]
	if last > 0 {
		b.down(0)
	}
}

// pickGroup is the candidates of one (site, region), blocks by load, least loaded first.
type pickGroup struct {
	blocks []*pickBlock
	cur    int
}

// top answers the group's best candidate now, nil when it has none left.
func (g *pickGroup) top(sw *siteWeights) *pickItem {
	for g.cur < len(g.blocks) {
		b := g.blocks[g.cur]
		for len(b.h) > 0 {
			it := b.h[0]
			if len(it.tp) == 0 {
				return it
			}
			h := sw.score(it.tp)
			if h == it.hist {
				return it
			}
			it.hist = h
			b.down(0)
		}
		g.cur++
	}
	return nil
}

func pickIndexed(left []Candidate, perSite, perRegion map[string]int, share, n int) []string {
	type gkey struct{ site, region string }
	type lkey struct {
		active, transfers int
		upRate            int64
	}
	siteIdx := map[string]int32{}
	sw := &siteWeights{}
	idxOf := func(s string) int32 {
		i, ok := siteIdx[s]
		if !ok {
			i = int32(len(sw.w))
			siteIdx[s] = i
			n, has := perSite[s]
			sw.w, sw.has = append(sw.w, n), append(sw.has, has)
		}
		return i
	}
	groups := map[gkey]*pickGroup{}
	var order []*pickGroup // groups in order of first appearance: a fixed order to compare them in
	blocks := map[gkey]map[lkey]*pickBlock{}
	// Candidates whose throughput names a site perSite does not hold yet: that site's first relay
	// adds it (at weight 1), raising their history.
	absent := map[string][]*pickItem{}
	for i := range left {
		c := &left[i]
		gk := gkey{site(c.Host), region(c.Host)}
		g := groups[gk]
		if g == nil {
			g = &pickGroup{}
			groups[gk] = g
			order = append(order, g)
			blocks[gk] = map[lkey]*pickBlock{}
		}
		lk := lkey{c.Active, c.Transfers, c.UpRate}
		b := blocks[gk][lk]
		if b == nil {
			b = &pickBlock{active: c.Active, transfers: c.Transfers, upRate: c.UpRate}
			blocks[gk][lk] = b
			g.blocks = append(g.blocks, b)
		}
		it := &pickItem{c: c, name: c.Host.Name, blk: b, pos: len(b.h)}
		for s, rate := range c.Throughput {
			it.tp = append(it.tp, siteRate{idxOf(s), rate})
			if _, ok := perSite[s]; !ok {
				absent[s] = append(absent[s], it)
			}
		}
		it.hist = sw.score(it.tp)
		b.h = append(b.h, it)
	}
	for _, g := range order {
		slices.SortFunc(g.blocks, func(a, b *pickBlock) int {
			return cmp.Or(cmp.Compare(a.active, b.active), cmp.Compare(a.transfers, b.transfers), cmp.Compare(a.upRate, b.upRate))
		})
		for _, b := range g.blocks {
			b.init()
		}
	}
	out := make([]string, 0, min(n, len(left)))
	for len(out) < n {
		var best *pickItem
		for _, g := range order {
			it := g.top(sw)
			if it != nil && (best == nil || better(*it.c, *best.c, perSite, perRegion)) {
				best = it
			}
		}
		if best == nil {
			break
		}
		best.blk.pop()
		out = append(out, best.name)
		s := site(best.c.Host)
		_, had := perSite[s]
		cover(best.c.Host, perSite, perRegion, share)
		if s == "" {
			continue
		}
		i := idxOf(s)
		sw.w[i], sw.has[i] = perSite[s], true
		if !had {
			for _, it := range absent[s] {
				if it.pos >= 0 {
					it.hist = sw.score(it.tp)
					it.blk.fix(it.pos)
				}
			}
			delete(absent, s)
		}
	}
	return out
}

// Point assigns every client to one of the relays: a relay of the client's site when there is one,
// else of its region, else any; among those the one with the fewest clients so far, then by name.
// Clients are taken in name order so the same facts give the same answer. When a relay fails and is
// dropped from relays, pointing again moves its clients to the others. The answer maps a client's
// name to its relay's name; it is empty when there is no relay.
//
// Each client costs O(log relays): the least loaded relay of a site, of a region and of all is
// kept in a heap each, and a relay's load only grows.
func Point(relays, clients []api.Host) map[string]string {
	out := make(map[string]string, len(clients))
	if len(relays) == 0 {
		return out
	}
	// Sorted by reference, not by value: a million hosts are too big to move about.
	byName := func(a, b *api.Host) int { return cmp.Compare(a.Name, b.Name) }
	rs := make([]*api.Host, len(relays))
	for i := range relays {
		rs[i] = &relays[i]
	}
	slices.SortFunc(rs, byName)
	cs := make([]*api.Host, len(clients))
	for i := range clients {
		cs[i] = &clients[i]
	}
	slices.SortFunc(cs, byName)
	load := make([]int, len(rs))
	all := &loadHeap{load: load}
	bySite, byRegion := map[string]*loadHeap{}, map[string]*loadHeap{}
	// A relay sits in at most one site heap and one region heap, so three position arrays do.
	posAll, posSite, posRegion := make([]int, len(rs)), make([]int, len(rs)), make([]int, len(rs))
	all.pos = posAll
	add := func(m map[string]*loadHeap, k string, pos []int, i int) {
		if k == "" {
			return
		}
		h := m[k]
		if h == nil {
			h = &loadHeap{load: load, pos: pos}
			m[k] = h
		}
		h.push(i)
	}
	for i, r := range rs {
		all.push(i)
		add(bySite, site(*r), posSite, i)
		add(byRegion, region(*r), posRegion, i)
	}
	rsite, rregion := make([]string, len(rs)), make([]string, len(rs))
	for i, r := range rs {
		rsite[i], rregion[i] = site(*r), region(*r)
	}
	for _, c := range cs {
		h := all
		if s := site(*c); s != "" && bySite[s] != nil {
			h = bySite[s]
		} else if r := region(*c); r != "" && byRegion[r] != nil {
			h = byRegion[r]
		}
		best := h.ids[0]
		out[c.Name] = rs[best].Name
		load[best]++
		all.down(posAll[best])
		if s := rsite[best]; s != "" {
			bySite[s].down(posSite[best])
		}
		if r := rregion[best]; r != "" {
			byRegion[r].down(posRegion[best])
		}
	}
	return out
}

// loadHeap is a min-heap of relay indexes by (load, index), with each relay's place in pos.
type loadHeap struct {
	ids  []int
	load []int
	pos  []int
}

func (h *loadHeap) less(a, b int) bool {
	x, y := h.ids[a], h.ids[b]
	return h.load[x] < h.load[y] || (h.load[x] == h.load[y] && x < y)
}

func (h *loadHeap) swap(a, b int) {
	h.ids[a], h.ids[b] = h.ids[b], h.ids[a]
	h.pos[h.ids[a]], h.pos[h.ids[b]] = a, b
}

// push adds relay i; relays are pushed in index order at load 0, so each lands at the end.
func (h *loadHeap) push(i int) {
	h.pos[i] = len(h.ids)
	h.ids = append(h.ids, i)
	for j := len(h.ids) - 1; j > 0; {
		p := (j - 1) / 2
		if !h.less(j, p) {
			break
		}
		h.swap(j, p)
		j = p
	}
}

// down restores the heap after the load of the relay at place j grew.
func (h *loadHeap) down(j int) {
	for {
		l, best := 2*j+1, j
		if l < len(h.ids) && h.less(l, best) {
			best = l
		}
		if r := l + 1; r < len(h.ids) && h.less(r, best) {
			best = r
		}
		if best == j {
			return
		}
		h.swap(j, best)
		j = best
	}
}
