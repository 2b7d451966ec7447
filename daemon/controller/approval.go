package controller

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"dist/core/api"
	"dist/core/pki"
	"dist/core/store"
)

// TrustEvery is how often a controller reads the trust epoch of its store (FollowTrust): a
// revocation or an approval made through another controller of a shared database holds here
// at most this much later. One row is read; the tables only when it moved.
const TrustEvery = 2 * time.Second

// Host access states, as api.Host.Access shows them.
const (
	accessPending = store.ApprovalPending
	accessDenied  = store.ApprovalDenied
	accessRevoked = "revoked"
)

// hostTrust is the approvals and revocations of the store, in memory: a request is checked
// against them without a query. The controller changes both together; FollowTrust picks up what
// other controllers of the same database changed.
type hostTrust struct {
	st store.HostTrustStore // nil: the store keeps none, every host is approved and none revoked

	loadMu sync.Mutex // one load or write at a time
	loaded atomic.Bool
	some   atomic.Bool // any approval or revocation at all: the common fleet has none

	mu        sync.RWMutex
	epoch     int64
	approval  map[string]string    // host → store.Approval* state
	serials   map[string]string    // revoked certificate serial → host
	revokedAt map[string]time.Time // host → newest revocation of all its certificates before then
	current   map[string]time.Time // revoked host → issue time of the newest certificate it used since (sawCert)
}

// load reads the epoch, then the tables: what the epoch promises is there. ht.loadMu is held.
func (ht *hostTrust) load(ctx context.Context) error {
	if ht.st == nil {
		ht.loaded.Store(true)
		return nil
	}
	epoch, err := ht.st.TrustEpoch(ctx)
	if err != nil {
		return err
	}
	as, err := ht.st.Approvals(ctx)
	if err != nil {
		return err
	}
	rs, err := ht.st.Revocations(ctx)
	if err != nil {
		return err
	}
	approval := make(map[string]string, len(as))
	for _, a := range as {
		approval[a.Name] = a.State
	}
	serials, revokedAt := map[string]string{}, map[string]time.Time{}
	for _, r := range rs {
		if r.Serial != "" {
			serials[r.Serial] = r.Host
		} else if r.At.After(revokedAt[r.Host]) {
			revokedAt[r.Host] = r.At
		}
	}
	ht.mu.Lock()
	ht.epoch, ht.approval, ht.serials, ht.revokedAt = epoch, approval, serials, revokedAt
	if ht.current == nil {
		ht.current = map[string]time.Time{} // what this controller saw: kept across reloads
	}
	ht.mu.Unlock()
	ht.some.Store(len(as)+len(rs) > 0)
	ht.loaded.Store(true)
	return nil
}

// trustReady loads approvals and revocations on first use.
func (s *Server) trustReady(ctx context.Context) error {
	ht := &s.trust.hosts
	if ht.loaded.Load() {
		return nil
	}
	ht.loadMu.Lock()
	defer ht.loadMu.Unlock()
	if ht.loaded.Load() {
		return nil
	}
	if err := ht.load(ctx); err != nil {
		return fmt.Errorf("load host approvals and revocations: %w", err)
	}
	return nil
}

// refreshTrust reads the trust epoch and, when another controller moved it, the tables again.
func (s *Server) refreshTrust(ctx context.Context) error {
	ht := &s.trust.hosts
	if ht.st == nil {
		return nil
	}
	if !ht.loaded.Load() {
		return s.trustReady(ctx)
	}
	epoch, err := ht.st.TrustEpoch(ctx)
	if err != nil {
		return err
	}
	ht.mu.RLock()
	same := epoch == ht.epoch
	ht.mu.RUnlock()
	if same {
		return nil
	}
	ht.loadMu.Lock()
	defer ht.loadMu.Unlock()
	return ht.load(ctx)
}

// FollowTrust keeps this controller's approvals and revocations in step with its store until ctx
// ends: at each tick (nil: every TrustEvery) it reads the trust epoch, and the tables when the
// epoch moved. A revocation made through another controller of the database holds here from the
// next tick on.
func (s *Server) FollowTrust(ctx context.Context, tick <-chan time.Time) {
	if tick == nil {
		t := time.NewTicker(TrustEvery)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick:
		}
		rctx, cancel := context.WithTimeout(ctx, TrustEvery)
		if err := s.refreshTrust(rctx); err != nil && ctx.Err() == nil {
			s.log.Warn("cannot read host approvals and revocations: keeping the last ones", "err", err)
		}
		cancel()
	}
}

// accessOf answers why h may not take part ("" when it may): it waits for approval (only while
// approval is required), it was denied, or its certificates were revoked and it has not
// registered since (a host that joined again registers with its new certificate).
func (s *Server) accessOf(h api.Host) string {
	ht := &s.trust.hosts
	if !ht.loaded.Load() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := s.trustReady(ctx)
		cancel()
		if err != nil {
			// Requests are refused by auth, which fails closed; this only decides listings and
			// peer choice, which go on with what they know.
			s.log.Warn("host access unknown", "host", h.Name, "err", err)
			return ""
		}
	}
	if !ht.some.Load() {
		return ""
	}
	ht.mu.RLock()
	defer ht.mu.RUnlock()
	state := ht.approval[h.Name]
	switch {
	case state == store.ApprovalDenied:
		return accessDenied
	case ht.revokedSince(h):
		return accessRevoked
	case state == store.ApprovalPending && s.o.RequireApproval:
		return accessPending
	}
	return ""
}

// revokedSince reports whether h's certificates were revoked and it has not come back with a
// newer one: by the certificate it last used here (sawCert), else by whether it registered or
// watched since. ht.mu is held.
func (ht *hostTrust) revokedSince(h api.Host) bool {
	at, ok := ht.revokedAt[h.Name]
	if !ok {
		return false
	}
	if cur, seen := ht.current[h.Name]; seen {
		return !cur.After(at)
	}
	return !h.LastSeen.After(at)
}

// admittedHosts answers the hosts that may take part (accessOf): the ones a push may target or
// make relays of.
func (s *Server) admittedHosts(ctx context.Context) ([]api.Host, error) {
	hs, err := s.allHosts(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.trustReady(ctx); err != nil {
		return nil, err
	}
	if !s.trust.hosts.some.Load() {
		return hs, nil
	}
	out := hs[:0:0]
	for _, h := range hs {
		if s.accessOf(h) == "" {
			out = append(out, h)
		}
	}
	return out, nil
}

// pendingRoutes are the host routes a host waiting for approval may use: it registers (so that
// operators see it with its addresses) and watches (it is given no task).
var pendingRoutes = map[string]bool{
	"POST /v1/hosts":      true,
	"GET /v1/watch":       true,
	"POST " + GoodbyePath: true,
}

// mayWait refuses a host waiting for approval every host route but pendingRoutes.
func (s *Server) mayWait(r *http.Request, c caller) error {
	if !s.o.RequireApproval || !c.verified || pendingRoutes[r.Pattern] {
		return nil
	}
	ht := &s.trust.hosts
	if !ht.some.Load() {
		return nil
	}
	ht.mu.RLock()
	state := ht.approval[c.name]
	ht.mu.RUnlock()
	if state == store.ApprovalPending {
		return errorf(http.StatusForbidden, codeForbidden, "host %s waits for approval: an admin runs dist hosts approve %s", c.name, c.name)
	}
	return nil
}

// setApproval writes a decision and keeps it in memory.
func (s *Server) setApproval(ctx context.Context, a store.HostApproval) error {
	ht := &s.trust.hosts
	if ht.st == nil {
		return errorf(http.StatusNotImplemented, codeBadRequest, "this controller's store keeps no host approvals")
	}
	if err := s.trustReady(ctx); err != nil {
		return err
	}
	ht.loadMu.Lock()
	defer ht.loadMu.Unlock()
	if err := ht.st.SetApproval(ctx, a); err != nil {
		return err
	}
	ht.mu.Lock()
	ht.approval[a.Name] = a.State
	ht.mu.Unlock()
	ht.some.Store(true)
	return nil
}

// approvalOf answers the stored decision about a host ("" when none).
func (s *Server) approvalOf(name string) string {
	ht := &s.trust.hosts
	ht.mu.RLock()
	defer ht.mu.RUnlock()
	return ht.approval[name]
}

// HostDecision is the answer of the approve, deny and revoke routes.
type HostDecision struct {
	Host    string    `json:"host"`
	Access  string    `json:"access"` // approved, denied or revoked
	At      time.Time `json:"at"`
	Serials []string  `json:"serials,omitempty"` // certificates revoked by serial
}

// approveHost answers POST /v1/hosts/{name}/approve: a host waiting for approval may take part
// from now on, and joins the live distributions it matches.
func (s *Server) approveHost(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	ctx := r.Context()
	if err := s.trustReady(ctx); err != nil {
		return err
	}
	h, known, err := s.hostByName(ctx, name)
	if err != nil {
		return err
	}
	state := s.approvalOf(name)
	switch {
	case state == store.ApprovalDenied:
		return errorf(http.StatusConflict, api.CodeConflict, "host %s was denied: give it a new join token (dist token create --role join), then approve it", name)
	case state == "" && !known:
		return errorf(http.StatusNotFound, codeNotFound, "host %s is not known: see dist hosts", name)
	}
	at := s.now().Truncate(time.Millisecond).UTC()
	if state != store.ApprovalApproved {
		if err := s.setApproval(ctx, store.HostApproval{Name: name, State: store.ApprovalApproved, At: at, By: callerOf(r).name}); err != nil {
			return fmt.Errorf("approve host %s: %w", name, err)
		}
		s.log.Info("host approved", "host", name, "by", callerOf(r).name)
	}
	if known {
		if err := s.join(ctx, h); err != nil {
			return fmt.Errorf("join %s to live distributions: %w", name, err)
		}
	}
	writeJSON(w, http.StatusOK, HostDecision{Host: name, Access: store.ApprovalApproved, At: at})
	return nil
}

// denyHost answers POST /v1/hosts/{name}/deny: the host is refused as a revoked one is, and joins
// again only with a new join token.
func (s *Server) denyHost(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	ctx := r.Context()
	if err := s.knownHost(ctx, name); err != nil {
		return err
	}
	d, err := s.revoke(ctx, name, callerOf(r).name)
	if err != nil {
		return err
	}
	if err := s.setApproval(ctx, store.HostApproval{Name: name, State: store.ApprovalDenied, At: d.At, By: callerOf(r).name}); err != nil {
		return fmt.Errorf("deny host %s: %w", name, err)
	}
	s.log.Info("host denied", "host", name, "by", callerOf(r).name)
	d.Access = store.ApprovalDenied
	writeJSON(w, http.StatusOK, d)
	return nil
}

// joinApproval records, before a join by token gets its certificate, what the join means for
// approval: a host joining with a join token while approval is required waits for it; any other
// join by token of a host with a decision on record (pending, denied) approves it, since an
// operator handed it the token.
func (s *Server) joinApproval(ctx context.Context, name, who string, role Role) error {
	if s.trust.hosts.st == nil {
		return nil
	}
	if err := s.trustReady(ctx); err != nil {
		return err
	}
	state := store.ApprovalApproved
	if role == RoleJoin && s.o.RequireApproval {
		state = store.ApprovalPending
	}
	if prev := s.approvalOf(name); prev == state || (prev == "" && state == store.ApprovalApproved) {
		return nil
	}
	return s.setApproval(ctx, store.HostApproval{Name: name, State: state, At: s.now().Truncate(time.Millisecond).UTC(), By: who})
}

// errNotShared tells pki.OpenShared that the store keeps no CA yet.
func errNotShared(err error) bool { return errors.Is(err, store.ErrNotFound) }

// OpenSharedCA opens the CA in dir in agreement with the one the store keeps (pki.OpenShared),
// for controllers that share a database; how says what happened (created, adopted, shared).
func OpenSharedCA(ctx context.Context, dir string, st store.Store) (ca *pki.CA, how string, err error) {
	hs, ok := st.(store.HostTrustStore)
	if !ok {
		return nil, "", fmt.Errorf("store %T keeps no ca: it cannot be shared", st)
	}
	return pki.OpenShared(ctx, dir, nil, hs, errNotShared)
}
