package quota

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Allocator hands out origin leases; see the package comment for the rules. It is not safe for
// concurrent use: the controller serialises calls. Times passed in must not go backwards.
type Allocator struct {
	limits  Limits
	ttl     time.Duration
	reserve float64

	epoch  string // from the first time seen: lease IDs stay unique across restarts
	seq    uint64
	leases map[string]*entry // by lease ID
	holder map[string]string // holder → lease ID
	wait   map[string]*waiter

	factor       float64
	lastDecrease time.Time // last cut
	lastTrouble  time.Time // last troubled answer, cut or not
	lastIncrease time.Time
	latency      float64 // usual latency, seconds (moving average)
	latencyN     int

	winStart   time.Time
	spent      int64
	quietUntil time.Time
}

type entry struct {
	lease       Lease
	req         Request
	since       time.Time // grant began
	outstanding int64     // granted bytes not yet reported
}

type waiter struct {
	req     Request
	since   time.Time
	expires time.Time // forgotten unless the holder asks again before this
}

// Option tunes an Allocator.
type Option func(*Allocator)

// WithReserve sets the share of conns and rate kept out of targets for newcomers (0–0.5).
func WithReserve(f float64) Option {
	return func(a *Allocator) { a.reserve = math.Min(math.Max(f, 0), 0.5) }
}

// New returns an allocator for an origin with limits, handing out leases that live for ttl
// (DefaultTTL when 0).
func New(limits Limits, ttl time.Duration, opts ...Option) *Allocator {
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	a := &Allocator{
		limits:  limits,
		ttl:     ttl,
		reserve: DefaultReserve,
		leases:  map[string]*entry{},
		holder:  map[string]string{},
		wait:    map[string]*waiter{},
		factor:  1,
	}
	for _, o := range opts {
		o(a)
	}
	return a
}

// TTL is the lifetime of a lease.
func (a *Allocator) TTL() time.Duration { return a.ttl }

// Limits are the origin's caps.
func (a *Allocator) Limits() Limits { return a.limits }

// SetLimits changes the caps. Live leases keep their grants until they renew, so a lowered cap
// holds from one lease period later.
func (a *Allocator) SetLimits(now time.Time, l Limits) {
	a.advance(now)
	a.limits = l
	a.advance(now)
}

// Acquire asks for a lease. On refusal the holder is kept in line for one lease period and should
// ask again before that; reason says why (for people), and on success it notes throttling, if any.
// A holder that already has a lease gives it up first, as after a restart of the holder, and the
// bytes the old lease did not report count as used.
func (a *Allocator) Acquire(now time.Time, req Request) (Lease, bool, string) {
	a.advance(now)
	if req.Holder == "" {
		return Lease{}, false, "holder is required"
	}
	if id, ok := a.holder[req.Holder]; ok {
		a.drop(id, true)
	}
	w := a.wait[req.Holder]
	if w == nil {
		w = &waiter{since: now}
		a.wait[req.Holder] = w
	}
	w.req, w.expires = req, now.Add(a.ttl)

	g, reason := a.grant(now, req.Holder)
	if g.Conns == 0 {
		return Lease{}, false, reason
	}
	delete(a.wait, req.Holder)
	a.seq++
	g.ID = a.epoch + "." + strconv.FormatUint(a.seq, 10)
	g.Holder, g.Relay = req.Holder, req.Relay
	e := &entry{lease: g, req: req, since: now}
	if g.Bytes > 0 {
		e.outstanding = g.Bytes
	}
	a.leases[g.ID] = e
	a.holder[req.Holder] = g.ID
	return g, true, reason
}

// Renew reports the bytes used since the lease was granted or last renewed and extends it with a
// fresh grant, which may be smaller or larger than before. It answers false, with a zero grant,
// when the lease is unknown or expired (ask again with Acquire) or when no share is left for the
// holder now (it is put in line, as after a refused Acquire).
func (a *Allocator) Renew(now time.Time, id string, used int64) (Lease, bool) {
	a.advance(now)
	e, ok := a.leases[id]
	if !ok {
		return Lease{ID: id}, false
	}
	a.spent += max(used, 0)
	e.outstanding = 0
	g, _ := a.grant(now, e.lease.Holder)
	if g.Conns == 0 {
		a.drop(id, false)
		a.wait[e.lease.Holder] = &waiter{req: e.req, since: now, expires: now.Add(a.ttl)}
		return Lease{ID: id, Holder: e.lease.Holder, Relay: e.lease.Relay}, false
	}
	g.ID, g.Holder, g.Relay = id, e.lease.Holder, e.lease.Relay
	e.lease = g
	if g.Bytes > 0 {
		e.outstanding = g.Bytes
	}
	return g, true
}

// Release ends a lease, reporting the bytes used since it was granted or last renewed. Its
// capacity and unused bytes return at once. It answers false for an unknown or expired lease.
func (a *Allocator) Release(now time.Time, id string, used int64) bool {
	a.advance(now)
	if _, ok := a.leases[id]; !ok {
		return false
	}
	a.spent += max(used, 0)
	a.drop(id, false)
	return true
}

// Expire reclaims leases whose time is up (their unreported bytes count as used) and forgets
// holders that stopped asking. Every other method does this too; the controller calls it on a
// timer so that State stays current when nobody asks.
func (a *Allocator) Expire(now time.Time) { a.advance(now) }

// Feedback reports one answer of the origin: its HTTP status (0 or less when the request failed
// without an answer) and its latency (time to the first byte). Trouble cuts the capacity factor.
func (a *Allocator) Feedback(now time.Time, status int, latency time.Duration) {
	a.advance(now)
	trouble := status <= 0 || status == 429 || status >= 500
	if !trouble && latency > 0 {
		l := latency.Seconds()
		if a.latencyN >= latencyWarmup && l > slowLatencyFactor*a.latency && l-a.latency > slowLatencyMin.Seconds() {
			trouble = true
		}
		// Slow answers move the average too, slowly: an origin that became slower for good
		// should not be cut forever.
		if a.latencyN == 0 {
			a.latency = l
		} else {
			a.latency += latencyAlpha * (l - a.latency)
		}
		a.latencyN++
	}
	if !trouble {
		return
	}
	a.lastTrouble = now
	// One cut per lease period: answers in the meantime still come from leases granted before it.
	if !a.lastDecrease.IsZero() && now.Sub(a.lastDecrease) < a.ttl {
		return
	}
	a.setFactor(a.factor * decreaseFactor)
	a.lastDecrease, a.lastIncrease = now, now
}

// setFactor sets the capacity factor inside minFactor–1, rounded so that repeated steps land on
// the exact values (a factor of 0.9999999 would cost a connection).
func (a *Allocator) setFactor(f float64) {
	f = math.Round(f*1e9) / 1e9
	a.factor = math.Min(1, math.Max(minFactor, f))
}

// Spent is the bytes used in the current window.
func (a *Allocator) Spent(now time.Time) int64 {
	a.advance(now)
	return a.spent
}

// State describes the allocator for display.
func (a *Allocator) State(now time.Time) State {
	a.advance(now)
	s := State{
		At:          now,
		Limits:      a.limits,
		Factor:      a.factor,
		Spent:       a.spent,
		WindowStart: a.winStart,
		WindowEnd:   a.winStart.Add(a.limits.window()),
		Throttle:    a.throttle(),
		QuietUntil:  a.quietUntil,
		Leases:      []Lease{},
		Waiting:     []string{},
	}
	if a.limits.MaxConns > 0 {
		s.ConnsCap = a.hardConns()
	}
	if a.limits.MaxRate > 0 {
		s.RateCap = a.hardRate()
	}
	for _, e := range a.leases {
		s.Conns += e.lease.Conns
		s.Rate += max(e.lease.Rate, 0)
		s.Outstanding += e.outstanding
		s.Leases = append(s.Leases, e.lease)
	}
	slices.SortFunc(s.Leases, func(x, y Lease) int { return strings.Compare(x.Holder, y.Holder) })
	for h := range a.wait {
		s.Waiting = append(s.Waiting, h)
	}
	slices.SortFunc(s.Waiting, func(x, y string) int {
		if c := a.wait[x].since.Compare(a.wait[y].since); c != 0 {
			return c
		}
		return strings.Compare(x, y)
	})
	return s
}

// Snapshot captures what must survive a controller restart. Bytes granted and not yet reported
// count as spent, since the leases carrying them are lost with the process.
func (a *Allocator) Snapshot(now time.Time) Snapshot {
	a.advance(now)
	return Snapshot{WindowStart: a.winStart, Spent: a.spent + a.outstanding(""), Factor: a.factor}
}

// Restore puts back a Snapshot taken by an earlier process. Spent bytes are kept when the snapshot
// is from the current window; the capacity factor is kept if lower. No lease is granted for one
// lease period, until every lease of the earlier process has expired.
func (a *Allocator) Restore(now time.Time, s Snapshot) {
	a.advance(now)
	w := a.limits.window()
	if !now.Before(s.WindowStart) && now.Before(s.WindowStart.Add(w)) {
		a.spent = max(a.spent, s.Spent)
	}
	if s.Factor > 0 && s.Factor < a.factor {
		a.setFactor(s.Factor)
		a.lastIncrease = now
	}
	a.quietUntil = now.Add(a.ttl)
}

// advance brings the allocator to now: expiry, window rollover, additive increase.
func (a *Allocator) advance(now time.Time) {
	if a.epoch == "" {
		a.epoch = strconv.FormatInt(now.UnixNano(), 36)
	}
	start := now.Truncate(a.limits.window())
	rolled := !a.winStart.IsZero() && start.After(a.winStart)
	// Unreported bytes of an expired lease count in the window where it expired.
	var late int64
	for id, e := range a.leases {
		if now.Before(e.lease.Expires) {
			continue
		}
		if rolled && e.lease.Expires.Before(start) {
			a.spent += e.outstanding
		} else {
			late += e.outstanding
		}
		a.drop(id, false)
	}
	if rolled {
		// Bytes granted in the old window and not yet reported stay outstanding, so they count
		// against the new window when they are reported.
		a.spent = 0
	}
	if a.winStart.IsZero() || rolled {
		a.winStart = start
	}
	a.spent += late
	for h, w := range a.wait {
		if !now.Before(w.expires) {
			delete(a.wait, h)
		}
	}
	if a.factor < 1 {
		// Grow back per full lease period without any trouble.
		from := a.lastIncrease
		if a.lastTrouble.After(from) {
			from = a.lastTrouble
		}
		if n := int(now.Sub(from) / a.ttl); n > 0 {
			a.setFactor(a.factor + float64(n)*increaseStep)
			a.lastIncrease = from.Add(time.Duration(n) * a.ttl)
		}
	}
}

// drop ends a lease. assumeUsed counts its unreported bytes as spent: used for leases that
// expire or are replaced, whose holder never said how much it fetched.
func (a *Allocator) drop(id string, assumeUsed bool) {
	e, ok := a.leases[id]
	if !ok {
		return
	}
	if assumeUsed {
		a.spent += e.outstanding
	}
	delete(a.leases, id)
	if a.holder[e.lease.Holder] == id {
		delete(a.holder, e.lease.Holder)
	}
}

// hardConns is what all leases may hold in sum now: the cap after back-off.
func (a *Allocator) hardConns() int {
	return max(1, int(math.Floor(float64(a.limits.MaxConns)*a.factor)))
}

// hardRate is the rate all leases may hold in sum now: the cap after back-off.
func (a *Allocator) hardRate() int64 {
	return max(1, int64(math.Floor(float64(a.limits.MaxRate)*a.factor)))
}

// outstanding is the bytes granted to leases other than except and not yet reported.
func (a *Allocator) outstanding(except string) int64 {
	var n int64
	for id, e := range a.leases {
		if id != except {
			n += e.outstanding
		}
	}
	return n
}

// throttle is the factor on rates while the byte budget runs out: 1 until throttleFrom of the
// budget is committed (spent or granted), then falling linearly with what is left, but not below
// throttleFloor while anything is left (a rate shrinking with the rest would never finish it), and
// 0 once nothing is.
func (a *Allocator) throttle() float64 {
	if a.limits.MaxBytes <= 0 {
		return 1
	}
	left := float64(a.limits.MaxBytes-a.spent-a.outstanding("")) / float64(a.limits.MaxBytes)
	if left <= 0 {
		return 0
	}
	return math.Min(1, math.Max(throttleFloor, left/(1-throttleFrom)))
}

// grant computes the lease holder may have now, next to what the other live leases hold. A grant
// with 0 conns is a refusal, explained by reason.
func (a *Allocator) grant(now time.Time, holder string) (Lease, string) {
	if now.Before(a.quietUntil) {
		return Lease{}, "controller restarted: origin leases resume at " + a.quietUntil.In(now.Location()).Format("15:04:05")
	}
	ownID := a.holder[holder]
	var free int64 = Unlimited
	if a.limits.MaxBytes > 0 {
		free = a.limits.MaxBytes - a.spent - a.outstanding(ownID)
		if free <= 0 {
			if a.spent >= a.limits.MaxBytes {
				end := a.winStart.Add(a.limits.window()).In(now.Location())
				layout := "15:04"
				if a.limits.window() > 24*time.Hour {
					layout = "2006-01-02 15:04"
				}
				return Lease{}, "origin byte budget spent until " + end.Format(layout)
			}
			return Lease{}, "origin byte budget fully granted; waiting for leases to report"
		}
	}

	// Targets over every holder, leased or waiting.
	var cs []*cand
	var self *cand
	for _, e := range a.leases {
		c := &cand{holder: e.lease.Holder, relay: e.req.Relay, weight: e.req.weight(),
			wantConns: max(e.req.Conns, 0), wantRate: max(e.req.Rate, 0),
			held: e.lease.Conns, grantedSince: e.since}
		cs = append(cs, c)
		if c.holder == holder {
			self = c
		}
	}
	for h, w := range a.wait {
		if _, leased := a.holder[h]; leased {
			continue
		}
		c := &cand{holder: h, relay: w.req.Relay, weight: w.req.weight(),
			wantConns: max(w.req.Conns, 0), wantRate: max(w.req.Rate, 0), waitSince: w.since}
		cs = append(cs, c)
		if h == holder {
			self = c
		}
	}
	if self == nil {
		return Lease{}, "holder unknown"
	}
	throttle := a.throttle()
	connsTarget, rateTarget := 0, 0.0
	if a.limits.MaxConns > 0 {
		connsTarget = min(a.hardConns(), max(1, int(math.Floor(float64(a.limits.MaxConns)*a.factor*(1-a.reserve)))))
	}
	if a.limits.MaxRate > 0 {
		rateTarget = math.Max(1, float64(a.limits.MaxRate)*a.factor*(1-a.reserve)*throttle)
	}
	plan(cs, connsTarget, rateTarget)

	g := Lease{Conns: self.conns, Rate: Unlimited, Bytes: Unlimited, Expires: now.Add(a.ttl)}
	var inConns int
	var inRate int64
	for id, e := range a.leases {
		if id != ownID {
			inConns += e.lease.Conns
			inRate += max(e.lease.Rate, 0)
		}
	}
	if a.limits.MaxConns > 0 {
		avail := a.hardConns() - inConns
		if self.conns == 0 {
			return Lease{}, fmt.Sprintf("waiting for a share of %d origin connections", a.hardConns())
		}
		if g.Conns = min(self.conns, avail); g.Conns <= 0 {
			return Lease{}, fmt.Sprintf("all %d origin connections leased; waiting for holders to renew", a.hardConns())
		}
	}
	if a.limits.MaxRate > 0 {
		avail := a.hardRate() - inRate
		g.Rate = min(max(int64(self.rate), 1), avail)
		if g.Rate <= 0 {
			return Lease{}, "origin bandwidth all leased; waiting for holders to renew"
		}
	} else if self.rate > 0 {
		g.Rate = int64(self.rate)
	}
	reason := ""
	if a.limits.MaxBytes > 0 {
		var chunk float64
		if g.Rate > 0 {
			// Enough for one lease period at full rate.
			chunk = float64(g.Rate) * a.ttl.Seconds()
		} else {
			// No rate to size it by: a share of what is left, like the connections.
			share := 1 / float64(len(cs))
			if connsTarget > 0 {
				share = float64(g.Conns) / float64(connsTarget)
			}
			chunk = float64(free) * share * throttle
		}
		g.Bytes = min(max(int64(chunk), 1), free)
		if throttle < 1 {
			committed := float64(a.spent+a.outstanding("")) / float64(a.limits.MaxBytes)
			reason = fmt.Sprintf("origin byte budget %.0f%% committed: rates throttled to %.0f%%", 100*committed, 100*throttle)
		}
	}
	return g, reason
}
