package quota

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

const (
	KiB = 1 << 10
	MiB = 1 << 20
	GiB = 1 << 30
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// clock is the tests' fake clock.
type clock struct{ now time.Time }

func (c *clock) tick(d time.Duration) time.Time { c.now = c.now.Add(d); return c.now }

func mustAcquire(t *testing.T, a *Allocator, now time.Time, r Request) Lease {
	t.Helper()
	l, ok, reason := a.Acquire(now, r)
	if !ok {
		t.Fatalf("Acquire(%s) refused: %s", r.Holder, reason)
	}
	checkLease(t, a, now, l)
	return l
}

func checkLease(t *testing.T, a *Allocator, now time.Time, l Lease) {
	t.Helper()
	lim := a.Limits()
	if l.ID == "" || l.Conns < 1 || l.Rate == 0 || l.Bytes == 0 || !l.Expires.Equal(now.Add(a.TTL())) {
		t.Fatalf("bad lease %+v at %s", l, now)
	}
	if (lim.MaxRate > 0 && l.Rate <= 0) || l.Rate < Unlimited {
		t.Fatalf("lease rate %d with MaxRate %d", l.Rate, lim.MaxRate)
	}
	if (lim.MaxBytes > 0) != (l.Bytes > 0) {
		t.Fatalf("lease bytes %d with MaxBytes %d", l.Bytes, lim.MaxBytes)
	}
}

// holders drives a set of holders round by round: each renews its lease (reporting used bytes)
// or, without one, asks for one.
type holders struct {
	t      *testing.T
	a      *Allocator
	reqs   []Request
	leases map[string]Lease // by holder
	served map[string]int   // rounds with a lease, by holder
}

func newHolders(t *testing.T, a *Allocator, reqs []Request) *holders {
	return &holders{t: t, a: a, reqs: reqs, leases: map[string]Lease{}, served: map[string]int{}}
}

func (h *holders) round(now time.Time, rng *rand.Rand) {
	order := make([]int, len(h.reqs))
	for i := range order {
		order[i] = i
	}
	if rng != nil {
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	}
	for _, i := range order {
		r := h.reqs[i]
		if l, ok := h.leases[r.Holder]; ok {
			nl, ok := h.a.Renew(now, l.ID, 0)
			if ok {
				checkLease(h.t, h.a, now, nl)
				h.leases[r.Holder] = nl
				h.served[r.Holder]++
				continue
			}
			delete(h.leases, r.Holder)
		}
		if l, ok, _ := h.a.Acquire(now, r); ok {
			checkLease(h.t, h.a, now, l)
			h.leases[r.Holder] = l
			h.served[r.Holder]++
		}
		checkCaps(h.t, h.a.Limits(), now, h.leases)
	}
}

// checkCaps verifies, from the leases handed out alone, that live ones stay inside the caps.
func checkCaps(t *testing.T, lim Limits, now time.Time, leases map[string]Lease) {
	t.Helper()
	conns, rate := 0, int64(0)
	for _, l := range leases {
		if now.Before(l.Expires) {
			conns += l.Conns
			rate += max(l.Rate, 0)
		}
	}
	if lim.MaxConns > 0 && conns > lim.MaxConns {
		t.Fatalf("at %s live leases hold %d conns, cap %d", now, conns, lim.MaxConns)
	}
	if lim.MaxRate > 0 && rate > lim.MaxRate {
		t.Fatalf("at %s live leases hold %d B/s, cap %d", now, rate, lim.MaxRate)
	}
}

func TestSharesFollowWeights(t *testing.T) {
	t.Parallel()
	a := New(Limits{MaxConns: 100, MaxRate: 100 * MiB}, 10*time.Second, WithReserve(0))
	c := &clock{t0}
	h := newHolders(t, a, []Request{
		{Holder: "a"},
		{Holder: "b", Bandwidth: 2, Priority: 1.5},
		{Holder: "c", History: 0.5, Priority: 2}, // 1
	})
	for i := 0; i < 4; i++ {
		h.round(c.tick(5*time.Second), nil)
	}
	want := map[string]struct {
		conns int
		rate  int64
	}{"a": {20, 20 * MiB}, "b": {60, 60 * MiB}, "c": {20, 20 * MiB}}
	for name, w := range want {
		l := h.leases[name]
		if l.Conns != w.conns || l.Rate != w.rate {
			t.Errorf("%s holds %d conns %d B/s, want %d conns %d B/s", name, l.Conns, l.Rate, w.conns, w.rate)
		}
	}
}

func TestEvenSplitWithReserve(t *testing.T) {
	t.Parallel()
	a := New(Limits{MaxConns: 20, MaxRate: 60 * MiB}, 10*time.Second)
	c := &clock{t0}
	var reqs []Request
	for i := range 6 {
		reqs = append(reqs, Request{Holder: fmt.Sprintf("h%d", i)})
	}
	h := newHolders(t, a, reqs)
	for range 6 {
		h.round(c.tick(5*time.Second), nil)
	}
	s := a.State(c.now)
	if s.Conns != 19 { // 5 % of 20 kept back, rounded down
		t.Fatalf("leases hold %d conns, want 19", s.Conns)
	}
	for name, l := range h.leases {
		if l.Conns < 3 || l.Conns > 4 || l.Rate < 9*MiB || l.Rate > 10*MiB {
			t.Errorf("%s holds %d conns %d B/s, want 3–4 conns and 9.5 MiB/s", name, l.Conns, l.Rate)
		}
	}
}

func TestNewcomerGetsReserveAtOnce(t *testing.T) {
	t.Parallel()
	a := New(Limits{MaxConns: 100, MaxRate: 100 * MiB}, 10*time.Second)
	c := &clock{t0}
	first := mustAcquire(t, a, c.now, Request{Holder: "first"})
	if first.Conns != 95 {
		t.Fatalf("first holder got %d conns, want 95 (5 kept back)", first.Conns)
	}
	second := mustAcquire(t, a, c.tick(time.Second), Request{Holder: "second"})
	if second.Conns != 5 {
		t.Fatalf("newcomer got %d conns, want the 5 in reserve", second.Conns)
	}
	// Capacity moves as leases renew.
	first, _ = a.Renew(c.tick(5*time.Second), first.ID, 0)
	second, _ = a.Renew(c.now, second.ID, 0)
	if first.Conns+second.Conns != 95 || first.Conns < 47 || second.Conns < 47 {
		t.Fatalf("after renewals: %d + %d conns, want an even split of 95", first.Conns, second.Conns)
	}
}

func TestRelaysFirst(t *testing.T) {
	t.Parallel()
	a := New(Limits{MaxConns: 20, MaxRate: 100 * MiB}, 10*time.Second, WithReserve(0))
	c := &clock{t0}
	reqs := []Request{{Holder: "c1"}, {Holder: "c2"}, {Holder: "c3", Bandwidth: 10}}
	h := newHolders(t, a, reqs)
	h.round(c.tick(5*time.Second), nil)
	if s := a.State(c.now); s.Conns != 20 {
		t.Fatalf("clients hold %d conns, want all 20", s.Conns)
	}
	// A relay arrives: everything is leased, so it waits for the clients to renew…
	relay := Request{Holder: "relay", Relay: true, Conns: 8, Rate: 40 * MiB}
	if _, ok, reason := a.Acquire(c.now, relay); ok || !strings.Contains(reason, "origin connections") {
		t.Fatalf("relay Acquire with nothing free: ok=%v reason %q", ok, reason)
	}
	h.reqs = append(h.reqs, relay)
	// …and is served in full before the clients, whatever their weights.
	for range 3 {
		h.round(c.tick(5*time.Second), nil)
	}
	r := h.leases["relay"]
	if r.Conns != 8 || r.Rate != 40*MiB {
		t.Fatalf("relay holds %d conns %d B/s, want 8 conns 40 MiB/s", r.Conns, r.Rate)
	}
	s := a.State(c.now)
	if s.Conns != 20 || s.Rate > 100*MiB {
		t.Fatalf("state %+v", s)
	}

	// With one connection and both waiting, the relay gets it even though the client asks first.
	b := New(Limits{MaxConns: 1}, 10*time.Second)
	x := mustAcquire(t, b, t0, Request{Holder: "x"})
	for _, r := range []Request{{Holder: "client"}, {Holder: "relay", Relay: true}} {
		if _, ok, _ := b.Acquire(t0, r); ok {
			t.Fatalf("%s served while x holds the only connection", r.Holder)
		}
	}
	b.Release(t0.Add(time.Second), x.ID, 0)
	if _, ok, reason := b.Acquire(t0.Add(time.Second), Request{Holder: "client"}); ok || !strings.Contains(reason, "waiting for a share") {
		t.Fatalf("client Acquire: ok=%v reason %q", ok, reason)
	}
	mustAcquire(t, b, t0.Add(time.Second), Request{Holder: "relay", Relay: true})
}

func TestUnboundedRelaysTakeEverything(t *testing.T) {
	t.Parallel()
	// Relays that state no want split the whole origin; clients then get nothing. Relays are meant
	// to say what they need.
	a := New(Limits{MaxConns: 10}, 10*time.Second)
	h := newHolders(t, a, []Request{{Holder: "relay", Relay: true}, {Holder: "client"}})
	c := &clock{t0}
	for range 3 {
		h.round(c.tick(5*time.Second), nil)
	}
	if h.served["client"] != 0 {
		t.Fatalf("client served %d rounds next to an unbounded relay", h.served["client"])
	}
}

func TestCapsNeverExceededRandom(t *testing.T) {
	t.Parallel()
	for seed := uint64(1); seed <= 25; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 99))
			lim := Limits{
				MaxConns: 1 + rng.IntN(40),
				MaxRate:  int64(1+rng.IntN(100)) * MiB,
				MaxBytes: int64(1+rng.IntN(8)) * GiB,
				Window:   time.Hour,
			}
			if seed%5 == 0 {
				lim.MaxRate = 0 // unlimited rate: chunks sized from the byte budget alone
			}
			a := New(lim, 10*time.Second, WithReserve(rng.Float64()*0.2))
			c := &clock{t0}
			live := map[string]Lease{} // by lease ID, as handed out
			reported := map[time.Time]int64{}
			for step := range 4000 {
				now := c.tick(time.Duration(rng.IntN(2500)) * time.Millisecond)
				for id, l := range live {
					if !now.Before(l.Expires) {
						delete(live, id)
					}
				}
				pick := func() (Lease, bool) {
					for _, l := range live { // map order is random enough here
						return l, true
					}
					return Lease{}, false
				}
				use := func(l Lease) int64 {
					if l.Bytes <= 0 {
						return 0
					}
					u := rng.Int64N(l.Bytes + 1)
					reported[now.Truncate(lim.Window)] += u
					return u
				}
				switch op := rng.IntN(10); {
				case op < 4:
					r := Request{
						Holder:    fmt.Sprintf("h%d", rng.IntN(30)),
						Relay:     rng.IntN(5) == 0,
						Conns:     rng.IntN(6),
						Rate:      int64(rng.IntN(30)) * MiB,
						Bandwidth: rng.Float64() * 3,
						Priority:  float64(rng.IntN(3)),
						History:   rng.Float64() * 2,
					}
					l, ok, reason := a.Acquire(now, r)
					for id, old := range live {
						if old.Holder == r.Holder {
							delete(live, id) // given up by asking again
						}
					}
					if !ok {
						if reason == "" {
							t.Fatalf("step %d: refusal without a reason", step)
						}
						break
					}
					checkLease(t, a, now, l)
					live[l.ID] = l
				case op < 7:
					if l, ok := pick(); ok {
						nl, ok := a.Renew(now, l.ID, use(l))
						if ok {
							checkLease(t, a, now, nl)
							live[l.ID] = nl
						} else {
							delete(live, l.ID)
						}
					}
				case op < 8:
					if l, ok := pick(); ok {
						if !a.Release(now, l.ID, use(l)) {
							t.Fatalf("step %d: Release of live lease %s failed", step, l.ID)
						}
						delete(live, l.ID)
					}
				case op < 9:
					a.Expire(now)
				default:
					statuses := []int{200, 200, 206, 206, 404, 429, 503, 0}
					a.Feedback(now, statuses[rng.IntN(len(statuses))], time.Duration(rng.IntN(400))*time.Millisecond)
				}
				checkCaps(t, lim, now, live)
				s := a.State(now)
				if s.Spent+s.Outstanding > lim.MaxBytes {
					t.Fatalf("step %d: spent %d + outstanding %d above budget %d", step, s.Spent, s.Outstanding, lim.MaxBytes)
				}
				if r := reported[s.WindowStart]; r > lim.MaxBytes {
					t.Fatalf("step %d: %d bytes reported in one window, budget %d", step, r, lim.MaxBytes)
				}
				if len(s.Leases) != len(live) {
					t.Fatalf("step %d: allocator has %d leases, holders %d", step, len(s.Leases), len(live))
				}
			}
		})
	}
}

func TestNoStarvation(t *testing.T) {
	t.Parallel()
	// More holders than connections, one of them far heavier: everyone still gets turns.
	a := New(Limits{MaxConns: 10, MaxRate: 50 * MiB}, 10*time.Second)
	rng := rand.New(rand.NewPCG(7, 7))
	reqs := []Request{{Holder: "heavy", Bandwidth: 50}}
	for i := range 24 {
		reqs = append(reqs, Request{Holder: fmt.Sprintf("h%02d", i), Bandwidth: 0.5 + rng.Float64()*1.5})
	}
	h := newHolders(t, a, reqs)
	c := &clock{t0}
	const rounds = 60
	for range rounds {
		h.round(c.tick(5*time.Second), rng)
	}
	for _, r := range reqs {
		if h.served[r.Holder] == 0 {
			t.Errorf("%s never got a lease in %d rounds (served: %v)", r.Holder, rounds, h.served)
		}
	}
	if h.served["heavy"] < rounds*9/10 {
		t.Errorf("heavy holder served %d of %d rounds", h.served["heavy"], rounds)
	}
}

func TestExpireReturnsDeadHoldersShare(t *testing.T) {
	t.Parallel()
	a := New(Limits{MaxConns: 10, MaxRate: 10 * MiB, MaxBytes: 10 * GiB}, 10*time.Second)
	c := &clock{t0}
	dead := mustAcquire(t, a, c.now, Request{Holder: "dead"})
	alive := mustAcquire(t, a, c.tick(time.Second), Request{Holder: "alive"})
	if alive.Conns != 1 {
		t.Fatalf("alive got %d conns next to a full lease, want the reserve (1)", alive.Conns)
	}
	// "dead" never renews. Until its lease runs out its capacity stays taken.
	for c.now.Before(dead.Expires.Add(-time.Second)) {
		var ok bool
		if alive, ok = a.Renew(c.tick(time.Second), alive.ID, 0); !ok {
			t.Fatal("Renew failed")
		}
		checkCaps(t, a.Limits(), c.now, map[string]Lease{"d": dead, "a": alive})
	}
	spentBefore := a.Spent(c.now)
	a.Expire(c.tick(time.Second))
	if s := a.State(c.now); len(s.Leases) != 1 || s.Leases[0].Holder != "alive" {
		t.Fatalf("after expiry leases %+v", s.Leases)
	}
	// Bytes it may have fetched without saying so count as spent.
	if got := a.Spent(c.now) - spentBefore; got != dead.Bytes {
		t.Fatalf("expiry counted %d bytes as spent, want the dead lease's %d", got, dead.Bytes)
	}
	alive, _ = a.Renew(c.tick(time.Second), alive.ID, 0)
	if alive.Conns != 9 || alive.Rate != int64(0.95*10*MiB) {
		t.Fatalf("after the dead lease expired alive holds %d conns %d B/s, want 9 and 95 %%", alive.Conns, alive.Rate)
	}
	if _, ok := a.Renew(c.now, dead.ID, 0); ok {
		t.Fatal("an expired lease was renewed")
	}
}

func TestWaitingHolderIsForgotten(t *testing.T) {
	t.Parallel()
	a := New(Limits{MaxConns: 1}, 10*time.Second)
	mustAcquire(t, a, t0, Request{Holder: "a"})
	if _, ok, _ := a.Acquire(t0, Request{Holder: "b"}); ok {
		t.Fatal("second holder served with one connection")
	}
	if s := a.State(t0.Add(9 * time.Second)); len(s.Waiting) != 1 || s.Waiting[0] != "b" {
		t.Fatalf("waiting %v", s.Waiting)
	}
	if s := a.State(t0.Add(10 * time.Second)); len(s.Waiting) != 0 {
		t.Fatalf("waiting %v after a lease period without asking", s.Waiting)
	}
}

func TestBackOffAndRecover(t *testing.T) {
	t.Parallel()
	ttl := 10 * time.Second
	a := New(Limits{MaxConns: 100, MaxRate: 100 * MiB}, ttl)
	c := &clock{t0}
	l := mustAcquire(t, a, c.now, Request{Holder: "relay", Relay: true})
	if l.Conns != 95 {
		t.Fatalf("got %d conns, want 95", l.Conns)
	}
	tests := []struct {
		status int
		cut    bool
	}{{200, false}, {206, false}, {404, false}, {429, true}, {500, true}, {503, true}, {0, true}}
	for _, tt := range tests {
		b := New(Limits{MaxConns: 100}, ttl)
		b.Feedback(t0, tt.status, 20*time.Millisecond)
		if cut := b.State(t0).Factor < 1; cut != tt.cut {
			t.Errorf("status %d: cut %v, want %v", tt.status, cut, tt.cut)
		}
	}

	a.Feedback(c.tick(time.Second), 503, 0)
	if s := a.State(c.now); s.Factor != 0.5 || s.ConnsCap != 50 || s.RateCap != 50*MiB {
		t.Fatalf("after a 503: factor %v caps %d/%d", s.Factor, s.ConnsCap, s.RateCap)
	}
	// More errors within the same lease period are echoes of the same overload.
	a.Feedback(c.tick(time.Second), 503, 0)
	a.Feedback(c.tick(time.Second), 429, 0)
	if f := a.State(c.now).Factor; f != 0.5 {
		t.Fatalf("factor %v after errors in one period, want 0.5", f)
	}
	l, _ = a.Renew(c.now, l.ID, 0)
	if l.Conns != 47 || l.Rate > 50*MiB {
		t.Fatalf("after back-off holds %d conns %d B/s, want 47 and ≤ 50 MiB/s", l.Conns, l.Rate)
	}
	// A lasting overload keeps cutting, down to the floor.
	for range 20 {
		a.Feedback(c.tick(ttl/2), 503, 0)
		l, _ = a.Renew(c.now, l.ID, 0)
	}
	if s := a.State(c.now); s.Factor != minFactor || s.ConnsCap != 10 {
		t.Fatalf("factor %v cap %d after a long overload, want %v and 10", s.Factor, s.ConnsCap, minFactor)
	}
	// Then it grows back by a tenth per lease period.
	for i := 1; i <= 9; i++ {
		l, _ = a.Renew(c.tick(ttl/2), l.ID, 0)
		l, _ = a.Renew(c.tick(ttl/2), l.ID, 0)
		want := minFactor + float64(i)*increaseStep
		if f := a.State(c.now).Factor; f < want-1e-9 || f > want+1e-9 {
			t.Fatalf("%d periods after the last error factor %v, want %v", i, f, want)
		}
	}
	l, _ = a.Renew(c.tick(ttl/2), l.ID, 0)
	if l.Conns != 95 || a.State(c.now).Factor != 1 {
		t.Fatalf("after recovery %d conns, factor %v", l.Conns, a.State(c.now).Factor)
	}
}

func TestBackOffOnLatency(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		usual time.Duration
		now   time.Duration
		cut   bool
	}{
		{"steady", 40 * time.Millisecond, 45 * time.Millisecond, false},
		{"climbing", 40 * time.Millisecond, 300 * time.Millisecond, true},
		{"double but tiny", 5 * time.Millisecond, 20 * time.Millisecond, false},
		{"slower, not double", 200 * time.Millisecond, 350 * time.Millisecond, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := New(Limits{MaxConns: 100}, 10*time.Second)
			now := t0
			for range latencyWarmup {
				now = now.Add(time.Second)
				a.Feedback(now, 206, tt.usual)
			}
			a.Feedback(now.Add(time.Second), 206, tt.now)
			if cut := a.State(now).Factor < 1; cut != tt.cut {
				t.Fatalf("cut %v, want %v", cut, tt.cut)
			}
		})
	}
	// Before the warm-up nothing is judged.
	a := New(Limits{MaxConns: 100}, 10*time.Second)
	a.Feedback(t0, 200, 10*time.Millisecond)
	a.Feedback(t0, 200, time.Second)
	if f := a.State(t0).Factor; f != 1 {
		t.Fatalf("factor %v after two answers", f)
	}
}

func TestByteBudget(t *testing.T) {
	t.Parallel()
	lim := Limits{MaxConns: 10, MaxRate: 10 * MiB, MaxBytes: GiB, Window: time.Hour}
	a := New(lim, 10*time.Second, WithReserve(0))
	c := &clock{t0} // 12:00
	l := mustAcquire(t, a, c.now, Request{Holder: "relay", Relay: true})
	if l.Rate != 10*MiB || l.Bytes != 100*MiB {
		t.Fatalf("first lease %+v, want 10 MiB/s and 100 MiB (one period)", l)
	}
	var rates []int64
	for {
		used := min(l.Bytes, l.Rate*5) // the fetcher runs at its rate for half a period
		nl, ok := a.Renew(c.tick(5*time.Second), l.ID, used)
		if s := a.State(c.now); s.Spent+s.Outstanding > lim.MaxBytes {
			t.Fatalf("spent %d + outstanding %d above %d", s.Spent, s.Outstanding, lim.MaxBytes)
		}
		if !ok {
			break
		}
		l = nl
		rates = append(rates, l.Rate)
		if len(rates) > 1000 {
			t.Fatal("budget never ran out")
		}
	}
	if got := a.Spent(c.now); got != GiB {
		t.Fatalf("spent %d, want the whole budget %d", got, GiB)
	}
	// Gradual: full rate first, then falling (never rising) to a tenth, then nothing.
	throttled := 0
	for i, r := range rates {
		if i > 0 && r > rates[i-1] {
			t.Fatalf("rate rose from %d to %d while the budget ran out: %v", rates[i-1], r, rates)
		}
		if r < 10*MiB {
			throttled++
			if r < MiB {
				t.Fatalf("rate %d below a tenth of the share", r)
			}
		}
	}
	if rates[0] != 10*MiB || throttled < 3 {
		t.Fatalf("rates %v, want full rate and then several throttled grants", rates)
	}
	_, ok, reason := a.Acquire(c.tick(time.Minute), Request{Holder: "relay", Relay: true})
	if ok || reason != "origin byte budget spent until 13:00" {
		t.Fatalf("Acquire with the budget spent: ok=%v reason %q", ok, reason)
	}
	if _, ok, _ := a.Acquire(time.Date(2026, 3, 1, 12, 59, 59, 0, time.UTC), Request{Holder: "other"}); ok {
		t.Fatal("granted before the window ended")
	}
	next := time.Date(2026, 3, 1, 13, 0, 0, 0, time.UTC)
	l = mustAcquire(t, a, next, Request{Holder: "relay", Relay: true})
	if l.Rate != 10*MiB || a.Spent(next) != 0 {
		t.Fatalf("new window: lease %+v spent %d", l, a.Spent(next))
	}
}

func TestByteBudgetUnlimitedRate(t *testing.T) {
	t.Parallel()
	a := New(Limits{MaxConns: 10, MaxBytes: 100 * MiB, Window: time.Hour}, 10*time.Second, WithReserve(0))
	x := mustAcquire(t, a, t0, Request{Holder: "x", Conns: 5})
	if x.Rate != Unlimited || x.Bytes != 50*MiB {
		t.Fatalf("lease %+v, want no rate cap and half the budget for half the connections", x)
	}
	y := mustAcquire(t, a, t0, Request{Holder: "y", Conns: 5})
	if y.Bytes != 25*MiB {
		t.Fatalf("second lease %+v, want half of what is left", y)
	}
	if !a.Release(t0.Add(time.Second), x.ID, 10*MiB) {
		t.Fatal("Release failed")
	}
	if s := a.State(t0.Add(time.Second)); s.Spent != 10*MiB || s.Outstanding != 25*MiB {
		t.Fatalf("after release spent %d outstanding %d", s.Spent, s.Outstanding)
	}
}

func TestUnlimited(t *testing.T) {
	t.Parallel()
	a := New(Limits{}, 0)
	l := mustAcquire(t, a, t0, Request{Holder: "h"})
	if l.Conns != DefaultConns || l.Rate != Unlimited || l.Bytes != Unlimited || a.TTL() != DefaultTTL {
		t.Fatalf("lease %+v", l)
	}
	l = mustAcquire(t, a, t0, Request{Holder: "g", Conns: 16, Rate: 5 * MiB})
	if l.Conns != 16 || l.Rate != 5*MiB {
		t.Fatalf("lease %+v, want what was asked", l)
	}
	a.Renew(t0.Add(time.Second), l.ID, 123)
	if got := a.Spent(t0.Add(time.Second)); got != 123 {
		t.Fatalf("spent %d, want 123 (counted even without a budget)", got)
	}
}

func TestReacquireReplacesLease(t *testing.T) {
	t.Parallel()
	a := New(Limits{MaxConns: 10, MaxRate: 10 * MiB, MaxBytes: GiB}, 10*time.Second)
	old := mustAcquire(t, a, t0, Request{Holder: "h"})
	l := mustAcquire(t, a, t0.Add(time.Second), Request{Holder: "h"})
	if l.ID == old.ID || l.Conns != 9 {
		t.Fatalf("re-acquired lease %+v (old %+v)", l, old)
	}
	if _, ok := a.Renew(t0.Add(2*time.Second), old.ID, 0); ok {
		t.Fatal("the replaced lease still renews")
	}
	// The restarted holder cannot say what its old lease fetched: all of it counts.
	if got := a.Spent(t0.Add(2 * time.Second)); got != old.Bytes {
		t.Fatalf("spent %d, want the old lease's %d", got, old.Bytes)
	}
	if _, ok, reason := a.Acquire(t0, Request{}); ok || reason != "holder is required" {
		t.Fatalf("Acquire without holder: %v %q", ok, reason)
	}
	if a.Release(t0.Add(3*time.Second), "nope", 0) {
		t.Fatal("Release of an unknown lease succeeded")
	}
}

func TestSnapshotRestore(t *testing.T) {
	t.Parallel()
	lim := Limits{MaxConns: 10, MaxRate: 10 * MiB, MaxBytes: 10 * GiB, Window: time.Hour}
	ttl := 10 * time.Second
	a := New(lim, ttl)
	c := &clock{t0.Add(10 * time.Minute)}
	l := mustAcquire(t, a, c.now, Request{Holder: "relay", Relay: true})
	l, _ = a.Renew(c.tick(5*time.Second), l.ID, 300*MiB)
	a.Feedback(c.now, 503, 0)
	snap := a.Snapshot(c.now)
	if snap.Spent != 300*MiB+l.Bytes || snap.Factor != 0.5 || !snap.WindowStart.Equal(t0) {
		t.Fatalf("snapshot %+v, want spent 300 MiB + the outstanding %d", snap, l.Bytes)
	}
	raw, err := json.Marshal(snap)
	if err != nil {
		t.Fatal(err)
	}
	var back Snapshot
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}

	// A new process (the controller restarted) picks it up.
	b := New(lim, ttl)
	b.Restore(c.tick(3*time.Second), back)
	if got := b.Spent(c.now); got != snap.Spent {
		t.Fatalf("restored spent %d, want %d", got, snap.Spent)
	}
	if f := b.State(c.now).Factor; f != 0.5 {
		t.Fatalf("restored factor %v", f)
	}
	// The old process's leases may still be in use: nothing for one lease period.
	_, ok, reason := b.Acquire(c.now, Request{Holder: "relay", Relay: true})
	if ok || !strings.HasPrefix(reason, "controller restarted") {
		t.Fatalf("Acquire right after restore: ok=%v reason %q", ok, reason)
	}
	nl := mustAcquire(t, b, c.tick(ttl), Request{Holder: "relay", Relay: true})
	if nl.ID == l.ID {
		t.Fatalf("lease ID %s reused across processes", nl.ID)
	}

	// A snapshot from an earlier window restores no spent bytes.
	d := New(lim, ttl)
	d.Restore(t0.Add(time.Hour+time.Minute), snap)
	if got := d.Spent(t0.Add(time.Hour + time.Minute)); got != 0 {
		t.Fatalf("spent %d from an earlier window", got)
	}
}

func TestWindowRollover(t *testing.T) {
	t.Parallel()
	a := New(Limits{MaxBytes: GiB, Window: 24 * time.Hour}, time.Minute)
	now := time.Date(2026, 3, 1, 23, 0, 0, 0, time.UTC)
	l := mustAcquire(t, a, now, Request{Holder: "h", Rate: MiB})
	a.Renew(now.Add(30*time.Second), l.ID, 40*MiB)
	s := a.State(now.Add(30 * time.Second))
	if !s.WindowStart.Equal(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)) || s.Spent != 40*MiB {
		t.Fatalf("state %+v", s)
	}
	midnight := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	if got := a.Spent(midnight); got != 0 {
		t.Fatalf("spent %d after rollover", got)
	}
}

func TestLimitsValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		l    Limits
		want string
	}{
		{Limits{}, ""},
		{Limits{MaxConns: 100, MaxRate: 1 << 30, MaxBytes: 1 << 40, Window: 24 * time.Hour}, ""},
		{Limits{MaxConns: -1}, "max conns -1 is negative"},
		{Limits{MaxRate: -1}, "max rate -1 is negative"},
		{Limits{MaxBytes: -1}, "max bytes -1 is negative"},
		{Limits{Window: -time.Second}, "window is negative"},
		{Limits{Window: time.Second}, "window 1s is shorter than a minute"},
	}
	for _, tt := range tests {
		err := tt.l.Validate()
		if got := fmt.Sprint(err); (tt.want == "" && err != nil) || (tt.want != "" && got != tt.want) {
			t.Errorf("Validate(%+v) = %v, want %q", tt.l, err, tt.want)
		}
	}
}

func TestSetLimitsAppliesAtRenewal(t *testing.T) {
	t.Parallel()
	a := New(Limits{MaxConns: 100, MaxRate: 100 * MiB}, 10*time.Second, WithReserve(0))
	l := mustAcquire(t, a, t0, Request{Holder: "h"})
	a.SetLimits(t0.Add(time.Second), Limits{MaxConns: 10, MaxRate: 10 * MiB})
	// The live lease keeps its grant until it renews…
	if s := a.State(t0.Add(time.Second)); s.Conns != 100 || s.ConnsCap != 10 {
		t.Fatalf("state after SetLimits %+v", s)
	}
	// …and then fits the new caps.
	l, ok := a.Renew(t0.Add(5*time.Second), l.ID, 0)
	if !ok || l.Conns != 10 || l.Rate != 10*MiB {
		t.Fatalf("renewed lease %+v ok=%v", l, ok)
	}
}
