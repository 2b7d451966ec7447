package controller

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"dist/core/api"
	"dist/core/quota"
	"dist/core/store"
)

// DefaultLeaseTTL is the lifetime of an origin lease: short, so that a dead host's share returns
// within seconds; holders renew at about half of it.
const DefaultLeaseTTL = 10 * time.Second

// origins holds one quota.Allocator per origin. Policies and spent bytes are written to the store
// (when it is a store.OriginStore) before a grant that depends on them is answered, so a restarted
// controller neither forgets a cap nor the bytes of the window.
type origins struct {
	mu     sync.Mutex
	ttl    time.Duration
	st     store.OriginStore // nil: kept in memory only
	loaded bool
	byKey  map[string]*originEntry
	n      int // origins created, for lease id prefixes
}

type originEntry struct {
	key    string
	prefix string // of lease ids: the controller finds the origin of a lease from its id
	alloc  *quota.Allocator
	stored bool           // the origin has a row: its snapshot is kept up to date
	saved  quota.Snapshot // last snapshot written
}

func newOrigins(st store.Store, ttl time.Duration) *origins {
	o := &origins{ttl: ttl, byKey: map[string]*originEntry{}}
	if os, ok := st.(store.OriginStore); ok {
		o.st = os
	}
	return o
}

// load reads the stored origins once; the caller holds o.mu. Restored allocators grant nothing
// for one lease period: leases of the previous process may still be in use.
func (o *origins) load(ctx context.Context, now time.Time) error {
	if o.loaded || o.st == nil {
		o.loaded = true
		return nil
	}
	rows, err := o.st.Origins(ctx)
	if err != nil {
		return err
	}
	for _, r := range rows {
		e := o.add(r.Origin, r.Limits, now)
		e.stored = true
		if !r.Snapshot.WindowStart.IsZero() {
			e.alloc.Restore(now, r.Snapshot)
			e.saved = e.alloc.Snapshot(now)
		}
	}
	o.loaded = true
	return nil
}

// add creates the allocator of an origin; the caller holds o.mu.
func (o *origins) add(key string, l quota.Limits, now time.Time) *originEntry {
	o.n++
	e := &originEntry{key: key, prefix: "o" + strconv.Itoa(o.n) + "-", alloc: quota.New(l, o.ttl)}
	e.alloc.Expire(now)
	o.byKey[key] = e
	return e
}

// get returns the origin's entry, creating an unlimited one; the caller holds o.mu.
func (o *origins) get(ctx context.Context, key string, now time.Time) (*originEntry, error) {
	if err := o.load(ctx, now); err != nil {
		return nil, err
	}
	if e := o.byKey[key]; e != nil {
		return e, nil
	}
	return o.add(key, quota.Limits{}, now), nil
}

// byLease finds the origin of a lease id; the caller holds o.mu.
func (o *origins) byLease(ctx context.Context, id string, now time.Time) (*originEntry, string, error) {
	if err := o.load(ctx, now); err != nil {
		return nil, "", err
	}
	for _, e := range o.byKey {
		if rest, ok := strings.CutPrefix(id, e.prefix); ok {
			return e, rest, nil
		}
	}
	return nil, "", nil
}

// save writes the origin's snapshot when it changed, before the grant it reflects is answered;
// the caller holds o.mu. Origins without limits are not written: they have nothing to keep.
func (o *origins) save(ctx context.Context, e *originEntry, now time.Time) error {
	if o.st == nil || (!e.stored && e.alloc.Limits() == (quota.Limits{})) {
		return nil
	}
	snap := e.alloc.Snapshot(now)
	if e.stored && snap == e.saved {
		return nil
	}
	if err := o.st.PutOriginSnapshot(ctx, e.key, snap, now); err != nil {
		return err
	}
	e.stored, e.saved = true, snap
	return nil
}

// status describes an origin for people.
func (e *originEntry) status(now time.Time) api.OriginStatus {
	s := e.alloc.State(now)
	out := api.OriginStatus{
		OriginPolicy: policyOf(e.key, s.Limits),
		Factor:       s.Factor, ConnsCap: s.ConnsCap, RateCap: s.RateCap, Conns: s.Conns, Rate: s.Rate,
		Spent: s.Spent, Outstanding: s.Outstanding, WindowStart: s.WindowStart, WindowEnd: s.WindowEnd,
		Throttle: s.Throttle, QuietUntil: s.QuietUntil, Leases: []api.Lease{}, Waiting: s.Waiting,
	}
	for _, l := range s.Leases {
		out.Leases = append(out.Leases, wireLease(e, l))
	}
	return out
}

func policyOf(key string, l quota.Limits) api.OriginPolicy {
	return api.OriginPolicy{Origin: key, MaxConns: l.MaxConns, MaxRate: l.MaxRate, MaxBytes: l.MaxBytes,
		WindowS: int64(l.Window / time.Second)}
}

func wireLease(e *originEntry, l quota.Lease) api.Lease {
	return api.Lease{ID: e.prefix + l.ID, Origin: e.key, Holder: l.Holder, Relay: l.Relay,
		Conns: l.Conns, Rate: l.Rate, Bytes: l.Bytes, Expires: l.Expires}
}

// listOrigins answers GET /v1/origins[?origin=URL].
func (s *Server) listOrigins(w http.ResponseWriter, r *http.Request) error {
	ctx, now := r.Context(), s.now()
	want := ""
	if q := r.URL.Query().Get("origin"); q != "" {
		if err := checkString("origin", q, maxURLLen); err != nil {
			return err
		}
		k, err := api.OriginKey(q)
		if err != nil {
			return badRequest("%v", err)
		}
		want = k
	}
	o := s.origins
	o.mu.Lock()
	defer o.mu.Unlock()
	if err := o.load(ctx, now); err != nil {
		return fmt.Errorf("load origins: %w", err)
	}
	out := []api.OriginStatus{}
	for _, e := range o.byKey {
		if want == "" || e.key == want {
			out = append(out, e.status(now))
		}
	}
	if want != "" && len(out) == 0 {
		return errorf(http.StatusNotFound, codeNotFound, "origin %s has no policy and no leases: set one with dist origin set", want)
	}
	slices.SortFunc(out, func(a, b api.OriginStatus) int { return strings.Compare(a.Origin, b.Origin) })
	writeJSON(w, http.StatusOK, out)
	return nil
}

// putOrigin answers PUT /v1/origins: the fields given change, the others stay. The policy is stored
// before it takes effect; lowered caps hold from the next renewal of each lease.
func (s *Server) putOrigin(w http.ResponseWriter, r *http.Request) error {
	ctx, now := r.Context(), s.now()
	var u api.OriginUpdate
	if err := decode(w, r, &u); err != nil {
		return err
	}
	if err := checkString("origin", u.Origin, maxURLLen); err != nil {
		return err
	}
	key, err := api.OriginKey(u.Origin)
	if err != nil {
		return badRequest("%v", err)
	}
	o := s.origins
	o.mu.Lock()
	defer o.mu.Unlock()
	e, err := o.get(ctx, key, now)
	if err != nil {
		return fmt.Errorf("load origins: %w", err)
	}
	l := e.alloc.Limits()
	if u.MaxConns != nil {
		l.MaxConns = *u.MaxConns
	}
	if u.MaxRate != nil {
		l.MaxRate = *u.MaxRate
	}
	if u.MaxBytes != nil {
		l.MaxBytes = *u.MaxBytes
	}
	if u.WindowS != nil {
		l.Window = time.Duration(*u.WindowS) * time.Second
	}
	if err := l.Validate(); err != nil {
		return badRequest("origin %s: %v", key, err)
	}
	if o.st != nil {
		if err := o.st.PutOriginLimits(ctx, key, l, now); err != nil {
			return fmt.Errorf("store origin policy: %w", err)
		}
		e.stored = true
	}
	e.alloc.SetLimits(now, l)
	if err := o.save(ctx, e, now); err != nil {
		return fmt.Errorf("store origin policy: %w", err)
	}
	s.event(ctx, store.Event{Kind: "origin", Msg: fmt.Sprintf("origin %s: max conns %d, max rate %d B/s, max bytes %d per %s (0 = none)",
		key, l.MaxConns, l.MaxRate, l.MaxBytes, windowOf(l))})
	s.log.Info("origin policy set", "origin", key, "max_conns", l.MaxConns, "max_rate", l.MaxRate, "max_bytes", l.MaxBytes, "window", windowOf(l))
	writeJSON(w, http.StatusOK, e.status(now))
	return nil
}

func windowOf(l quota.Limits) time.Duration {
	if l.Window <= 0 {
		return quota.DefaultWindow
	}
	return l.Window
}
