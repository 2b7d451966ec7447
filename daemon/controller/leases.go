package controller

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"dist/core/api"
	"dist/core/quota"
	"dist/core/store"
)

// acquireLease answers POST /v1/leases. A refusal is an answer too (granted false, with the reason
// and when to ask again): waiting for a share is the normal state of a busy origin.
func (s *Server) acquireLease(w http.ResponseWriter, r *http.Request) error {
	ctx, now := r.Context(), s.now()
	var req api.LeaseRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if err := checkString("origin", req.Origin, maxURLLen); err != nil {
		return err
	}
	if err := checkString("holder", req.Holder, maxNameLen); err != nil {
		return err
	}
	key, err := api.OriginKey(req.Origin)
	if err != nil {
		return badRequest("%v", err)
	}
	if strings.TrimSpace(req.Holder) == "" {
		return badRequest("holder is required: name the host asking for the lease")
	}
	c := callerOf(r)
	if !c.mayHold(req.Holder) {
		return errorf(http.StatusForbidden, codeForbidden, "host %s may not take a lease for holder %s: a host holds leases only for itself", c.name, req.Holder)
	}
	// Relay status and priority are the controller's to say, not the caller's (leaseStanding).
	req.Relay, req.Priority, req.History = s.leaseStanding(ctx, req.Holder, key, now)
	o := s.origins
	if o.shared != nil {
		return s.acquireShared(ctx, w, key, req, now)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	e, err := o.get(ctx, key, now)
	if err != nil {
		return fmt.Errorf("load origins: %w", err)
	}
	l, ok, reason := e.alloc.Acquire(now, quota.Request{
		Holder: req.Holder, Relay: req.Relay, Conns: req.Conns, Rate: req.Rate,
		Bandwidth: req.Bandwidth, Priority: req.Priority, History: req.History,
	})
	s.metrics.leaseAnswered(e, now, ok)
	if !ok {
		writeJSON(w, http.StatusOK, s.refusal(reason))
		return nil
	}
	if err := o.save(ctx, e, now); err != nil {
		// Not stored, not granted: a restart would not know these bytes.
		e.alloc.Release(now, l.ID, 0)
		return fmt.Errorf("store origin spent bytes: %w", err)
	}
	writeJSON(w, http.StatusOK, s.bind(s.grant(e, l, reason), req.Holder, now))
	return nil
}

// renewLease answers POST /v1/leases/{id}/renew.
func (s *Server) renewLease(w http.ResponseWriter, r *http.Request) error {
	ctx, now := r.Context(), s.now()
	var req api.LeaseRenew
	if err := decode(w, r, &req); err != nil {
		return err
	}
	wire := r.PathValue("id")
	if s.origins.shared != nil {
		return s.renewShared(w, r, wire, req, now)
	}
	ref, err := s.holderLease(r, wire)
	if err != nil || ref == nil {
		if err == nil {
			writeJSON(w, http.StatusOK, s.lost())
		}
		return err
	}
	o := s.origins
	o.mu.Lock()
	defer o.mu.Unlock()
	e, id, err := o.byLease(ctx, ref.inner, now)
	if err != nil {
		return fmt.Errorf("load origins: %w", err)
	}
	if e == nil {
		s.unbind(wire)
		writeJSON(w, http.StatusOK, s.lost())
		return nil
	}
	feedback(e.alloc, now, req.Feedback)
	l, ok := e.alloc.Renew(now, id, ref.capUsed(req.Used))
	if !ok {
		s.unbind(wire)
		if err := o.save(ctx, e, now); err != nil {
			return fmt.Errorf("store origin spent bytes: %w", err)
		}
		if l.Holder == "" {
			writeJSON(w, http.StatusOK, s.lost())
			return nil
		}
		writeJSON(w, http.StatusOK, s.refusal(waitReason(e.alloc, now, l.Holder)))
		return nil
	}
	if err := o.save(ctx, e, now); err != nil {
		e.alloc.Release(now, id, 0)
		s.unbind(wire)
		return fmt.Errorf("store origin spent bytes: %w", err)
	}
	writeJSON(w, http.StatusOK, s.bind(s.grant(e, l, ""), ref.holder, now))
	return nil
}

// releaseLease answers DELETE /v1/leases/{id}?used=N. Releasing an unknown lease is not an error:
// it expired or the controller restarted, and either way it holds nothing.
func (s *Server) releaseLease(w http.ResponseWriter, r *http.Request) error {
	ctx, now := r.Context(), s.now()
	var used int64
	if v := r.URL.Query().Get("used"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return badRequest("used %q is not a byte count", v)
		}
		used = n
	}
	wire := r.PathValue("id")
	if s.origins.shared != nil {
		return s.releaseShared(w, r, wire, used, now)
	}
	ref, err := s.holderLease(r, wire)
	if err != nil {
		return err
	}
	if ref == nil {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	s.unbind(wire)
	o := s.origins
	o.mu.Lock()
	defer o.mu.Unlock()
	e, id, err := o.byLease(ctx, ref.inner, now)
	if err != nil {
		return fmt.Errorf("load origins: %w", err)
	}
	if e != nil && e.alloc.Release(now, id, ref.capUsed(used)) {
		if err := o.save(ctx, e, now); err != nil {
			return fmt.Errorf("store origin spent bytes: %w", err)
		}
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// feedback hands the origin's answers, as one holder saw them, to the allocator.
func feedback(a *quota.Allocator, now time.Time, f api.OriginFeedback) {
	if f.Trouble > 0 {
		// One cut per lease period at most: one troubled answer says as much as many.
		a.Feedback(now, f.Status, 0)
	}
	if f.Answers > f.Trouble && f.LatencyMs > 0 {
		a.Feedback(now, http.StatusPartialContent, time.Duration(f.LatencyMs)*time.Millisecond)
	}
}

// waitReason explains a refused renewal: the allocator put the holder back in line.
func waitReason(a *quota.Allocator, now time.Time, holder string) string {
	st := a.State(now)
	if st.Limits.MaxBytes > 0 && st.Spent >= st.Limits.MaxBytes {
		return "origin byte budget spent until " + st.WindowEnd.Format("15:04")
	}
	return fmt.Sprintf("waiting for a share of the origin (%d holders waiting)", len(st.Waiting))
}

func (s *Server) grant(e *originEntry, l quota.Lease, reason string) api.LeaseAnswer {
	return api.LeaseAnswer{Granted: true, Lease: wireLease(e, l), TTLMs: s.origins.ttl.Milliseconds(), Reason: reason}
}

func (s *Server) refusal(reason string) api.LeaseAnswer {
	return api.LeaseAnswer{Reason: reason, TTLMs: s.origins.ttl.Milliseconds(), RetryMs: s.retryAfter().Milliseconds()}
}

func (s *Server) lost() api.LeaseAnswer {
	return api.LeaseAnswer{Lost: true, Reason: "lease unknown: it expired or the controller restarted",
		TTLMs: s.origins.ttl.Milliseconds(), RetryMs: s.retryAfter().Milliseconds()}
}

// retryAfter is how soon a refused holder asks again: often enough to stay in line (the allocator
// forgets a waiting holder after one lease period) and to take a share soon after it frees.
func (s *Server) retryAfter() time.Duration {
	return min(max(s.origins.ttl/10, 100*time.Millisecond), 2*time.Second)
}

// leaseBook maps the random ids hosts see to the allocator's own (which are sequential, so
// guessable) and keeps who holds each lease and how many bytes its last grant allowed.
type leaseBook struct {
	mu      sync.Mutex
	byWire  map[string]*leaseRef
	byInner map[string]string // allocator id → wire id: a renewal keeps the id the holder knows
	swept   time.Time
}

type leaseRef struct {
	inner   string // origin prefix + allocator id
	holder  string
	granted int64 // bytes of the last grant; -1: not capped
	expires time.Time
}

// capUsed bounds a reported byte count by what the lease granted: a holder cannot spend more of
// the origin's budget than it was given.
func (l *leaseRef) capUsed(used int64) int64 { return capUsed(l.granted, used) }

// capUsed bounds used by granted bytes (-1: not capped).
func capUsed(granted, used int64) int64 {
	if granted >= 0 {
		return min(used, granted)
	}
	return used
}

// leaseSweep is how many leases the book holds before expired ones are looked for.
const leaseSweep = 1024

// bind gives a granted lease its random id (the same one again on renewal).
func (s *Server) bind(ans api.LeaseAnswer, holder string, now time.Time) api.LeaseAnswer {
	if !ans.Granted {
		return ans
	}
	b := &s.trust.leases
	b.mu.Lock()
	defer b.mu.Unlock()
	inner := ans.Lease.ID
	wire, ok := b.byInner[inner]
	if !ok {
		if len(b.byWire) >= leaseSweep && now.Sub(b.swept) >= time.Minute {
			b.sweep(now) // at most once a minute: a big fleet holds many live leases
		}
		wire = newLeaseID()
		b.byInner[inner] = wire
	}
	b.byWire[wire] = &leaseRef{inner: inner, holder: holder, granted: ans.Lease.Bytes, expires: ans.Lease.Expires}
	ans.Lease.ID = wire
	return ans
}

// sweep forgets leases a lease period past their expiry: the allocator has dropped them.
func (b *leaseBook) sweep(now time.Time) {
	b.swept = now
	for wire, ref := range b.byWire {
		if now.After(ref.expires.Add(time.Minute)) {
			delete(b.byWire, wire)
			delete(b.byInner, ref.inner)
		}
	}
}

func (s *Server) unbind(wire string) {
	b := &s.trust.leases
	b.mu.Lock()
	defer b.mu.Unlock()
	if ref, ok := b.byWire[wire]; ok {
		delete(b.byInner, ref.inner)
		delete(b.byWire, wire)
	}
}

// holderLease finds the lease of a renewal or a release and checks that the caller holds it;
// nil without an error for an unknown id (it expired, or the controller restarted).
func (s *Server) holderLease(r *http.Request, wire string) (*leaseRef, error) {
	b := &s.trust.leases
	b.mu.Lock()
	ref, ok := b.byWire[wire]
	var cp leaseRef
	if ok {
		cp = *ref
	}
	b.mu.Unlock()
	if !ok {
		return nil, nil
	}
	if c := callerOf(r); !c.mayHold(cp.holder) {
		return nil, errorf(http.StatusForbidden, codeForbidden, "host %s does not hold lease %s: only its holder renews or releases it", c.name, wire)
	}
	return &cp, nil
}

// newLeaseID is 128 random bits: a lease id proves nothing, but it cannot be guessed either.
func newLeaseID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read does not fail (it aborts the process instead)
	return hex.EncodeToString(b)
}

// leaseStanding answers the holder's relay status and priority for a lease on origin key, from
// what the controller assigned: a relay only when it relays a live distribution of that origin,
// the priority factor of the highest-priority such distribution it takes part in (2^(p/50): 1 at
// the default 0, 4 at 100, 1/4 at -100). The holder's history is not taken from the holder: 1.
func (s *Server) leaseStanding(ctx context.Context, holder, key string, now time.Time) (relay bool, priority, history float64) {
	host, _, _ := strings.Cut(holder, "/")
	hts, err := s.st.HostTaskHeads(ctx, host, now, s.o.Keep)
	if err != nil {
		s.log.Warn("lease standing: tasks of holder unknown", "holder", holder, "err", err)
		return false, 1, 1
	}
	var lcs map[string]store.DistLifecycle
	best, found := 0, false
	for _, ht := range hts {
		if k, err := api.OriginKey(ht.Distribution.Source); err != nil || k != key {
			continue
		}
		if ht.Assignment.Role == api.RoleRelay && !ht.Assignment.State.Stopped() {
			relay = true
		}
		if lcs == nil {
			if lcs, err = s.st.Lifecycles(ctx); err != nil {
				s.log.Warn("lease standing: priorities unknown", "holder", holder, "err", err)
				lcs = map[string]store.DistLifecycle{}
			}
		}
		if p := lcs[ht.Distribution.ID].Priority; !found || p > best {
			best, found = p, true
		}
	}
	return relay, math.Exp2(float64(best) / 50), 1
}

// Leases on a shared store (origins.shared set): every operation runs in origins.update, and a
// wire id carries its origin's tag, so any controller answers for a lease any other granted.

// acquireShared is acquireLease on a shared store. A refusal is written too: the holders waiting
// in line are the fleet's, whichever controller they asked.
func (s *Server) acquireShared(ctx context.Context, w http.ResponseWriter, key string, req api.LeaseRequest, now time.Time) error {
	var (
		l      quota.Lease
		ok     bool
		reason string
		wire   string
	)
	e, err := s.origins.update(ctx, key, now, func(e *originEntry, wires map[string]string, now time.Time) (bool, error) {
		l, ok, reason = e.alloc.Acquire(now, quota.Request{
			Holder: req.Holder, Relay: req.Relay, Conns: req.Conns, Rate: req.Rate,
			Bandwidth: req.Bandwidth, Priority: req.Priority, History: req.History,
		})
		if ok {
			var random string
			wire, random = wireID(key)
			wires[random] = l.ID
		}
		return true, nil
	})
	if err != nil {
		return err
	}
	s.leaseAnsweredShared(e, now, ok)
	if !ok {
		writeJSON(w, http.StatusOK, s.refusal(reason))
		return nil
	}
	ans := s.grant(e, l, reason)
	ans.Lease.ID = wire
	writeJSON(w, http.StatusOK, ans)
	return nil
}

// renewShared is renewLease on a shared store.
func (s *Server) renewShared(w http.ResponseWriter, r *http.Request, wire string, req api.LeaseRenew, now time.Time) error {
	ctx := r.Context()
	key, random, err := s.origins.keyOfWire(ctx, wire)
	if err != nil || key == "" {
		if err == nil {
			writeJSON(w, http.StatusOK, s.lost())
		}
		return err
	}
	var ans api.LeaseAnswer
	_, err = s.origins.update(ctx, key, now, func(e *originEntry, wires map[string]string, now time.Time) (bool, error) {
		id, held, err := sharedLease(r, e, wires, wire, random)
		if err != nil || !held.granted {
			ans = s.lost()
			return false, err
		}
		feedback(e.alloc, now, req.Feedback)
		l, ok := e.alloc.Renew(now, id, capUsed(held.lease.Bytes, req.Used))
		switch {
		case ok:
			ans = s.grant(e, l, "")
			ans.Lease.ID = wire
		case l.Holder == "":
			ans = s.lost()
		default:
			ans = s.refusal(waitReason(e.alloc, now, l.Holder))
		}
		return true, nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ans)
	return nil
}

// releaseShared is releaseLease on a shared store.
func (s *Server) releaseShared(w http.ResponseWriter, r *http.Request, wire string, used int64, now time.Time) error {
	ctx := r.Context()
	key, random, err := s.origins.keyOfWire(ctx, wire)
	if err != nil {
		return err
	}
	if key != "" {
		_, err = s.origins.update(ctx, key, now, func(e *originEntry, wires map[string]string, now time.Time) (bool, error) {
			id, held, err := sharedLease(r, e, wires, wire, random)
			if err != nil || !held.granted {
				return false, err
			}
			return e.alloc.Release(now, id, capUsed(held.lease.Bytes, used)), nil
		})
		if err != nil {
			return err
		}
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type heldLease struct {
	lease   quota.Lease
	granted bool // the wire id names a lease the allocator holds
}

// sharedLease finds the lease of a wire id (random: its random part) in an origin's state and
// checks that the caller holds it.
func sharedLease(r *http.Request, e *originEntry, wires map[string]string, wire, random string) (string, heldLease, error) {
	id, ok := wires[random]
	if !ok {
		return "", heldLease{}, nil
	}
	l, ok := e.alloc.Lease(id)
	if !ok {
		return "", heldLease{}, nil
	}
	if c := callerOf(r); !c.mayHold(l.Holder) {
		return "", heldLease{}, errorf(http.StatusForbidden, codeForbidden, "host %s does not hold lease %s: only its holder renews or releases it", c.name, wire)
	}
	return id, heldLease{lease: l, granted: true}, nil
}

// leaseAnsweredShared counts a lease answer of this controller; the entry is the one metrics
// read, under the origins' lock.
func (s *Server) leaseAnsweredShared(e *originEntry, now time.Time, granted bool) {
	o := s.origins
	o.mu.Lock()
	defer o.mu.Unlock()
	s.metrics.leaseAnswered(e, now, granted)
}
