package controller_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"dist/core/api"
	"dist/core/store"
	"dist/core/store/pgtest"
	"dist/daemon/controller"
)

// sharedFleet is several controllers on one PostgreSQL database, as behind one address, each with
// its own pool of connections (as its own process would have), all on one fake clock.
type sharedFleet struct {
	clock *clock
	admin []*api.Client
	host  []*api.Client
}

func newSharedFleet(t testing.TB, dsn string, n int, ttl time.Duration) *sharedFleet {
	t.Helper()
	f := &sharedFleet{clock: &clock{t: time.UnixMilli(1_700_000_400_000).UTC()}}
	for range n {
		st, err := store.OpenPostgres(context.Background(), dsn)
		if err != nil {
			t.Fatalf("open store: %v", err)
		}
		t.Cleanup(func() { st.Close() })
		srv := controller.New(st, controller.Options{AdminToken: adminToken, HostToken: hostToken, Now: f.clock.Now, LeaseTTL: ttl})
		ts := httptest.NewServer(srv.Handler())
		t.Cleanup(ts.Close)
		f.admin = append(f.admin, api.New(ts.URL, adminToken))
		f.host = append(f.host, api.New(ts.URL, hostToken))
	}
	return f
}

// holderView is what one holder believes it holds: the origin sees no more than this.
type holderView struct {
	wire  string
	lease api.Lease
	dead  api.Lease // the lease of an earlier life of the holder, until it expires
}

func (h *holderView) live(now time.Time) bool { return h.wire != "" && now.Before(h.lease.Expires) }

func TestSharedLeases(t *testing.T) {
	t.Parallel()
	dsn := pgtest.Private(t) // skips, saying why, without PostgreSQL
	const ttl = 10 * time.Second

	// Holders take, renew, give up and abandon leases at random through any of the three: at
	// every step the grants all holders believe live add up to no more than the caps, and the
	// bytes used in each window (reported, or a whole grant for a lease left to expire) stay
	// within the budget. Three controllers with their own allocators would grant three times.
	t.Run("caps hold across controllers", func(t *testing.T) {
		t.Parallel()
		ctx := ctxT(t)
		f := newSharedFleet(t, dsn, 3, ttl)
		const origin = "http://caps.test/file.iso"
		lim := api.OriginUpdate{Origin: origin, MaxConns: ptr(6), MaxRate: ptr(int64(60 << 20)),
			MaxBytes: ptr(int64(1 << 30)), WindowS: ptr(int64(60))}
		if _, err := f.admin[0].SetOrigin(ctx, lim); err != nil {
			t.Fatal(err)
		}
		window := time.Minute
		rng := rand.New(rand.NewPCG(20, 3))
		views := map[string]*holderView{}
		var names []string
		for i := range 8 {
			n := fmt.Sprintf("host-%02d", i)
			names, views[n] = append(names, n), &holderView{}
		}
		used := map[time.Time]int64{} // by window start
		clk := f.clock.t
		grants, crossed := 0, 0
		for step := range 900 {
			clk = clk.Add(time.Duration(rng.IntN(800)) * time.Millisecond)
			f.clock.mu.Lock()
			f.clock.t = clk
			f.clock.mu.Unlock()
			name := names[rng.IntN(len(names))]
			h := views[name]
			if h.wire != "" && !h.live(clk) {
				h.dead, h.wire = h.lease, ""
			}
			if h.dead.Bytes > 0 && !clk.Before(h.dead.Expires) {
				// Left to expire: it may have fetched every byte it was given, which count in
				// the window where it expired.
				used[h.dead.Expires.Truncate(window)] += h.dead.Bytes
				h.dead = api.Lease{}
			}
			via := rng.IntN(3)
			switch op := rng.IntN(10); {
			case h.wire == "":
				if h.dead.Bytes > 0 {
					// The holder's new lease replaces the one of its earlier life, whose
					// bytes count as used now.
					used[clk.Truncate(window)] += h.dead.Bytes
					h.dead = api.Lease{}
				}
				a, err := f.host[via].AcquireLease(ctx, api.LeaseRequest{Origin: origin, Holder: name, Conns: rng.IntN(4)})
				if err != nil {
					t.Fatalf("step %d: acquire: %v", step, err)
				}
				if a.Granted {
					h.wire, h.lease, grants = a.Lease.ID, a.Lease, grants+1
				}
			case op < 7:
				u := rng.Int64N(h.lease.Bytes + 1)
				fb := api.OriginFeedback{Answers: 3, LatencyMs: 40}
				if rng.IntN(25) == 0 {
					fb = api.OriginFeedback{Answers: 3, Trouble: 1, Status: 503}
				}
				a, err := f.host[via].RenewLease(ctx, h.wire, api.LeaseRenew{Used: u, Feedback: fb})
				if err != nil {
					t.Fatalf("step %d: renew: %v", step, err)
				}
				used[clk.Truncate(window)] += u
				crossed++
				if a.Granted {
					if a.Lease.ID != h.wire {
						t.Fatalf("step %d: renewal changed the lease id %s to %s", step, h.wire, a.Lease.ID)
					}
					h.lease, grants = a.Lease, grants+1
				} else {
					h.wire = ""
				}
			case op < 9:
				u := rng.Int64N(h.lease.Bytes + 1)
				if err := f.host[via].ReleaseLease(ctx, h.wire, u); err != nil {
					t.Fatalf("step %d: release: %v", step, err)
				}
				used[clk.Truncate(window)] += u
				h.wire = ""
			default:
				// The holder dies: its lease runs out on its own, or is replaced when the holder
				// comes back and asks again.
				h.dead, h.wire = h.lease, ""
			}
			var conns int
			var rate int64
			for _, v := range views {
				if v.live(clk) {
					conns += v.lease.Conns
					rate += v.lease.Rate
				}
			}
			if conns > *lim.MaxConns || rate > *lim.MaxRate {
				t.Fatalf("step %d: live grants hold %d conns and %d B/s: caps are %d and %d", step, conns, rate, *lim.MaxConns, *lim.MaxRate)
			}
			for w, n := range used {
				if n > *lim.MaxBytes {
					t.Fatalf("step %d: %d bytes used in the window from %s: the budget is %d", step, n, w, *lim.MaxBytes)
				}
			}
		}
		st, err := f.admin[2].Origins(ctx, origin)
		if err != nil || len(st) != 1 || st[0].Conns > 6 {
			t.Fatalf("origin at the end: %+v, %v", st, err)
		}
		// The run must have exercised what it checks: many grants, renewals through another
		// controller, and a budget that ran out in some window.
		full := 0
		for _, n := range used {
			if n > *lim.MaxBytes/2 {
				full++
			}
		}
		if grants < 100 || crossed < 100 || full == 0 {
			t.Fatalf("too little happened: %d grants, %d renewals, %d windows past half the budget (%v)", grants, crossed, full, used)
		}
	})

	// Holders hammer the three at once: the row lock makes every grant see the ones before it,
	// so once all is answered the grants held add up to no more than the caps.
	t.Run("concurrent holders", func(t *testing.T) {
		t.Parallel()
		ctx := ctxT(t)
		f := newSharedFleet(t, dsn, 3, ttl)
		const origin = "http://busy.test/file.iso"
		if _, err := f.admin[1].SetOrigin(ctx, api.OriginUpdate{Origin: origin, MaxConns: ptr(6), MaxRate: ptr(int64(6 << 20))}); err != nil {
			t.Fatal(err)
		}
		const workers, each, rounds = 6, 3, 8
		var (
			mu    sync.Mutex
			held  = map[string]api.Lease{}
			wg    sync.WaitGroup
			errCh = make(chan error, workers)
		)
		for w := range workers {
			wg.Go(func() {
				rng := rand.New(rand.NewPCG(uint64(w), 7))
				mine := map[string]string{} // holder → wire id
				for r := range rounds {
					for i := range each {
						name := fmt.Sprintf("w%d-h%d", w, i)
						c := f.host[(w+r+i)%3]
						var a api.LeaseAnswer
						var err error
						if id := mine[name]; id != "" && rng.IntN(4) > 0 {
							a, err = c.RenewLease(ctx, id, api.LeaseRenew{})
						} else {
							a, err = c.AcquireLease(ctx, api.LeaseRequest{Origin: origin, Holder: name})
						}
						if err != nil {
							errCh <- err
							return
						}
						mu.Lock()
						if a.Granted {
							mine[name], held[name] = a.Lease.ID, a.Lease
						} else {
							delete(mine, name)
							delete(held, name)
						}
						mu.Unlock()
					}
				}
			})
		}
		wg.Wait()
		close(errCh)
		for err := range errCh {
			t.Fatal(err)
		}
		var conns int
		var rate int64
		for _, l := range held {
			conns, rate = conns+l.Conns, rate+l.Rate
		}
		if len(held) == 0 || conns > 6 || rate > 6<<20 {
			t.Fatalf("%d holders hold %d conns and %d B/s: caps are 6 and %d", len(held), conns, rate, 6<<20)
		}
		st, err := f.admin[0].Origins(ctx, origin)
		if err != nil || st[0].Conns != conns || len(st[0].Leases) != len(held) {
			t.Fatalf("the origin knows %+v (%v); the holders hold %d conns in %d leases", st, err, conns, len(held))
		}
	})

	// A lease taken through one controller renews through the second and is given back through
	// the third; limits set through one hold at once through another.
	t.Run("any controller answers", func(t *testing.T) {
		t.Parallel()
		ctx := ctxT(t)
		f := newSharedFleet(t, dsn, 3, ttl)
		const origin = "http://any.test/file.iso"
		if _, err := f.admin[0].SetOrigin(ctx, api.OriginUpdate{Origin: origin, MaxConns: ptr(1)}); err != nil {
			t.Fatal(err)
		}
		a, err := f.host[0].AcquireLease(ctx, api.LeaseRequest{Origin: origin, Holder: "a"})
		if err != nil || !a.Granted || a.Lease.Conns != 1 {
			t.Fatalf("lease via A: %+v, %v", a, err)
		}
		r, err := f.host[1].RenewLease(ctx, a.Lease.ID, api.LeaseRenew{Used: 10})
		if err != nil || !r.Granted || r.Lease.ID != a.Lease.ID {
			t.Fatalf("renewal via B of the lease from A: %+v, %v", r, err)
		}
		b, err := f.host[2].AcquireLease(ctx, api.LeaseRequest{Origin: origin, Holder: "b"})
		if err != nil || b.Granted {
			t.Fatalf("a second lease via C while A's holds the one conn: %+v, %v", b, err)
		}
		if err := f.host[2].ReleaseLease(ctx, a.Lease.ID, 5); err != nil {
			t.Fatalf("release via C: %v", err)
		}
		if lost, err := f.host[0].RenewLease(ctx, a.Lease.ID, api.LeaseRenew{}); err != nil || !lost.Lost {
			t.Fatalf("renewal via A of the lease released via C: %+v, %v", lost, err)
		}
		if _, err := f.admin[0].SetOrigin(ctx, api.OriginUpdate{Origin: origin, MaxConns: ptr(4)}); err != nil {
			t.Fatal(err)
		}
		st, err := f.admin[1].Origins(ctx, origin)
		if err != nil || len(st) != 1 || st[0].MaxConns != 4 || st[0].Spent != 15 || len(st[0].Leases) != 0 {
			t.Fatalf("origin via B after a change via A: %+v, %v", st, err)
		}
		conns := 0
		for i, name := range []string{"b", "c", "d"} {
			g, err := f.host[(i+1)%3].AcquireLease(ctx, api.LeaseRequest{Origin: origin, Holder: name, Conns: 1})
			if err != nil || !g.Granted {
				t.Fatalf("lease %s after the cap rose to 4 via A: %+v, %v", name, g, err)
			}
			conns += g.Lease.Conns
		}
		if _, err := f.admin[2].SetOrigin(ctx, api.OriginUpdate{Origin: origin, MaxConns: ptr(3)}); err != nil {
			t.Fatal(err)
		}
		if e, err := f.host[0].AcquireLease(ctx, api.LeaseRequest{Origin: origin, Holder: "e"}); err != nil || e.Granted {
			t.Fatalf("a fourth lease via A after the cap fell to %d via C: %+v, %v", conns, e, err)
		}
	})

	// Bytes reported through another controller than the one that granted them are capped at the
	// grant, as on one controller: the grant is in the shared state.
	t.Run("reports capped at the grant", func(t *testing.T) {
		t.Parallel()
		ctx := ctxT(t)
		f := newSharedFleet(t, dsn, 3, ttl)
		const origin = "http://report.test/file.iso"
		if _, err := f.admin[0].SetOrigin(ctx, api.OriginUpdate{Origin: origin, MaxBytes: ptr(int64(1 << 40))}); err != nil {
			t.Fatal(err)
		}
		a, err := f.host[0].AcquireLease(ctx, api.LeaseRequest{Origin: origin, Holder: "a"})
		if err != nil || !a.Granted || a.Lease.Bytes <= 0 {
			t.Fatalf("lease with a byte budget: %+v, %v", a, err)
		}
		if r, err := f.host[1].RenewLease(ctx, a.Lease.ID, api.LeaseRenew{Used: 9e18}); err != nil || r.Lost {
			t.Fatalf("renewal via B: %+v, %v", r, err)
		}
		st, err := f.admin[2].Origins(ctx, origin)
		if err != nil || st[0].Spent != a.Lease.Bytes {
			t.Fatalf("spent after reporting 9e18 bytes of a %d-byte grant: %+v, %v", a.Lease.Bytes, st, err)
		}
	})
}

// BenchmarkSharedLease times one lease renewal, answered over loopback HTTP by a controller on
// PostgreSQL (the origin's state locked, read, changed and written back in one transaction), with
// the origin holding a number of live leases; and the same on SQLite, where leases stay in memory.
func BenchmarkSharedLease(b *testing.B) {
	dsn := pgtest.Private(b)
	for _, backend := range []string{"postgres", "sqlite"} {
		for _, n := range []int{1, 100, 1000} {
			b.Run(fmt.Sprintf("%s/leases=%d", backend, n), func(b *testing.B) {
				var st store.Store
				var err error
				if backend == "postgres" {
					st, err = store.OpenPostgres(context.Background(), dsn)
				} else {
					st, err = store.Open(b.TempDir() + "/c.db")
				}
				if err != nil {
					b.Fatal(err)
				}
				defer st.Close()
				c := &clock{t: time.UnixMilli(1_700_000_400_000).UTC()}
				srv := controller.New(st, controller.Options{AdminToken: adminToken, HostToken: hostToken, Now: c.Now, LeaseTTL: time.Hour})
				ts := httptest.NewServer(srv.Handler())
				defer ts.Close()
				ctx := context.Background()
				admin, host := api.New(ts.URL, adminToken), api.New(ts.URL, hostToken)
				origin := fmt.Sprintf("http://bench-%s-%d.test/f", backend, n)
				if _, err := admin.SetOrigin(ctx, api.OriginUpdate{Origin: origin, MaxConns: ptr(4 * n), MaxRate: ptr(int64(n) << 20)}); err != nil {
					b.Fatal(err)
				}
				var ids []string
				for i := range n {
					a, err := host.AcquireLease(ctx, api.LeaseRequest{Origin: origin, Holder: fmt.Sprintf("h%04d", i), Conns: 1, Rate: 1 << 20})
					if err != nil || !a.Granted {
						b.Fatalf("lease %d: %+v, %v", i, a, err)
					}
					ids = append(ids, a.Lease.ID)
				}
				i := 0
				for b.Loop() {
					a, err := host.RenewLease(ctx, ids[i%n], api.LeaseRenew{Used: 1})
					if err != nil || !a.Granted {
						b.Fatalf("renew: %+v, %v", a, err)
					}
					i++
				}
			})
		}
	}
}
