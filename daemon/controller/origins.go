package controller

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
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
//
// When the store is a store.OriginStateStore (PostgreSQL, shared by several controllers) the
// allocators live in the database instead: every lease operation loads the origin's whole state
// under its row lock, runs on a fresh allocator and writes the state back before it is answered
// (update), so the caps hold for the whole fleet. byKey then keeps the last state this controller
// saw of each origin, for its metrics only.
type origins struct {
	mu     sync.Mutex
	ttl    time.Duration
	st     store.OriginStore // nil: kept in memory only
	loaded bool
	byKey  map[string]*originEntry
	n      int // origins created, for lease id prefixes

	shared store.OriginStateStore // set: the lease state lives in the database (update)
	tags   map[string]string      // shared: origin tag of wire lease ids → origin key
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
	// The one place that chooses: a store shared by several controllers holds the lease state.
	if ss, ok := st.(store.OriginStateStore); ok {
		o.shared, o.tags = ss, map[string]string{}
	} else if os, ok := st.(store.OriginStore); ok {
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
	if o.shared != nil {
		return s.listOriginsShared(ctx, w, want, now)
	}
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
	if o.shared != nil {
		return s.putOriginShared(ctx, w, key, u, now)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	e, err := o.get(ctx, key, now)
	if err != nil {
		return fmt.Errorf("load origins: %w", err)
	}
	l, err := updatedLimits(key, e.alloc.Limits(), u)
	if err != nil {
		return err
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
	s.originSet(ctx, key, l)
	writeJSON(w, http.StatusOK, e.status(now))
	return nil
}

// updatedLimits applies the fields of u that are given to l.
func updatedLimits(key string, l quota.Limits, u api.OriginUpdate) (quota.Limits, error) {
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
		return l, badRequest("origin %s: %v", key, err)
	}
	return l, nil
}

// originSet records a policy change for people.
func (s *Server) originSet(ctx context.Context, key string, l quota.Limits) {
	s.event(ctx, store.Event{Kind: "origin", Msg: fmt.Sprintf("origin %s: max conns %d, max rate %d B/s, max bytes %d per %s (0 = none)",
		key, l.MaxConns, l.MaxRate, l.MaxBytes, windowOf(l))})
	s.log.Info("origin policy set", "origin", key, "max_conns", l.MaxConns, "max_rate", l.MaxRate, "max_bytes", l.MaxBytes, "window", windowOf(l))
}

func windowOf(l quota.Limits) time.Duration {
	if l.Window <= 0 {
		return quota.DefaultWindow
	}
	return l.Window
}

// Origins shared by several controllers (origins.shared set).

// sharedDoc is an origin's state column when controllers share the database: the allocator's
// whole state, the wire ids of its live leases, and the latest time an operation ran on it.
type sharedDoc struct {
	V     int               `json:"v"`
	At    int64             `json:"at_ns"`           // Unix nanoseconds
	Wires map[string]string `json:"wires,omitempty"` // random part of a wire lease id → allocator lease id
	Alloc json.RawMessage   `json:"alloc"`
}

// time is the document's At in now's location: the time the next operation runs at.
func (d *sharedDoc) time(now time.Time) time.Time { return time.Unix(0, d.At).In(now.Location()) }

// sharedOp is one lease operation on an origin's state: it changes e.alloc and wires at now and
// answers whether there is anything to write back.
type sharedOp func(e *originEntry, wires map[string]string, now time.Time) (bool, error)

// update runs op on the origin's state as the database holds it, with the origin's row locked
// against every other controller, and writes the result before it returns: an answer built by op
// may be given once update returned nil. An error of op is answered as is.
func (o *origins) update(ctx context.Context, key string, now time.Time, op sharedOp) (*originEntry, error) {
	var (
		out   *originEntry
		opErr error
	)
	err := o.shared.UpdateOrigin(ctx, key, now, func(st *store.OriginState) (bool, error) {
		out, opErr = nil, nil
		e, d, err := o.open(st, now)
		if err != nil {
			return false, err
		}
		out = e
		write, err := op(e, d.Wires, d.time(now))
		if err != nil {
			opErr = err
			return false, err
		}
		if !write {
			return false, nil
		}
		if st.State, err = seal(e, d); err != nil {
			return false, err
		}
		st.Limits, st.Snapshot = e.alloc.Limits(), e.alloc.Snapshot(d.time(now))
		return true, nil
	})
	if opErr != nil && errors.Is(err, opErr) {
		return nil, opErr
	}
	if err != nil {
		return nil, fmt.Errorf("origin %s: lease state: %w", key, err)
	}
	o.mu.Lock()
	o.byKey[key] = out
	o.tags[originTag(key)] = key
	o.mu.Unlock()
	return out, nil
}

// open builds the allocator of an origin's row. Times never go backwards for an allocator, even
// though several controllers' clocks differ a little: an operation runs at the latest time any
// of them ran one (the document's At) when its own clock is behind.
func (o *origins) open(st *store.OriginState, now time.Time) (*originEntry, *sharedDoc, error) {
	key := st.Origin.Origin
	e := &originEntry{key: key, alloc: quota.New(st.Limits, o.ttl), stored: true}
	d := &sharedDoc{V: 1, At: now.UnixNano(), Wires: map[string]string{}}
	if len(st.State) == 0 {
		e.alloc.Expire(now)
		if !st.Snapshot.WindowStart.IsZero() {
			// What a controller that kept its leases in memory left: they may still be in use.
			e.alloc.Restore(now, st.Snapshot)
		}
		return e, d, nil
	}
	var in sharedDoc
	if err := json.Unmarshal(st.State, &in); err != nil {
		return nil, nil, fmt.Errorf("read the state of origin %s: %w", key, err)
	}
	if err := e.alloc.Import(in.Alloc); err != nil {
		return nil, nil, fmt.Errorf("read the state of origin %s: %w", key, err)
	}
	d.At = max(d.At, in.At)
	if in.Wires != nil {
		d.Wires = in.Wires
	}
	if l := st.Limits; e.alloc.Limits() != l {
		// Limits written by a path other than update (a copy from SQLite): the row's hold.
		e.alloc.SetLimits(d.time(now), l)
	}
	return e, d, nil
}

// seal writes an origin's state back into its document. The wire ids of leases that ended
// (released, expired, replaced) go with them.
func seal(e *originEntry, d *sharedDoc) ([]byte, error) {
	alloc, err := e.alloc.Export()
	if err != nil {
		return nil, err
	}
	for w, id := range d.Wires {
		if _, ok := e.alloc.Lease(id); !ok {
			delete(d.Wires, w)
		}
	}
	wires, err := json.Marshal(d.Wires)
	if err != nil {
		return nil, err
	}
	// By hand rather than json.Marshal(d), which would scan the allocator's document once more.
	b := make([]byte, 0, len(alloc)+len(wires)+64)
	b = fmt.Appendf(b, `{"v":1,"at_ns":%d,"wires":`, d.At)
	b = append(b, wires...)
	b = append(b, `,"alloc":`...)
	b = append(b, alloc...)
	return append(b, '}'), nil
}

// originTag is the part of a wire lease id that names its origin: any controller finds the
// origin's state from the id alone. It proves nothing (the random part does).
func originTag(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:8])
}

// wireID is a new wire id for a lease of the origin key: 128 random bits, then the origin's tag.
// A state document keeps the random part only: the tag is the same for all its leases.
func wireID(key string) (wire, random string) {
	random = newLeaseID()
	return random + "-" + originTag(key), random
}

// keyOfWire answers the origin of a wire lease id and the id's random part; "" when it names
// no origin.
func (o *origins) keyOfWire(ctx context.Context, wire string) (key, random string, err error) {
	random, tag, ok := strings.Cut(wire, "-")
	if !ok {
		return "", "", nil
	}
	o.mu.Lock()
	key, ok = o.tags[tag]
	o.mu.Unlock()
	if ok {
		return key, random, nil
	}
	// An origin another controller leased first: its row is there.
	rows, err := o.shared.Origins(ctx)
	if err != nil {
		return "", "", fmt.Errorf("list origins: %w", err)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, r := range rows {
		o.tags[originTag(r.Origin)] = r.Origin
	}
	return o.tags[tag], random, nil
}

// putOriginShared is putOrigin on a shared store: the limits change under the origin's lock, so
// every controller applies them from its next operation on the origin.
func (s *Server) putOriginShared(ctx context.Context, w http.ResponseWriter, key string, u api.OriginUpdate, now time.Time) error {
	var (
		l  quota.Limits
		st api.OriginStatus
	)
	_, err := s.origins.update(ctx, key, now, func(e *originEntry, _ map[string]string, now time.Time) (bool, error) {
		var err error
		if l, err = updatedLimits(key, e.alloc.Limits(), u); err != nil {
			return false, err
		}
		e.alloc.SetLimits(now, l)
		st = e.status(now)
		return true, nil
	})
	if err != nil {
		return err
	}
	s.originSet(ctx, key, l)
	writeJSON(w, http.StatusOK, st)
	return nil
}

// listOriginsShared is listOrigins on a shared store: every origin as the database holds it.
func (s *Server) listOriginsShared(ctx context.Context, w http.ResponseWriter, want string, now time.Time) error {
	rows, err := s.origins.shared.OriginStates(ctx)
	if err != nil {
		return fmt.Errorf("load origins: %w", err)
	}
	out := []api.OriginStatus{}
	for i := range rows {
		if want != "" && rows[i].Origin.Origin != want {
			continue
		}
		e, d, err := s.origins.open(&rows[i], now)
		if err != nil {
			return err
		}
		out = append(out, e.status(d.time(now)))
	}
	if want != "" && len(out) == 0 {
		return errorf(http.StatusNotFound, codeNotFound, "origin %s has no policy and no leases: set one with dist origin set", want)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
