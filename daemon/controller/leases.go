package controller

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"dist/core/api"
	"dist/core/quota"
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
	o := s.origins
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
	writeJSON(w, http.StatusOK, s.grant(e, l, reason))
	return nil
}

// renewLease answers POST /v1/leases/{id}/renew.
func (s *Server) renewLease(w http.ResponseWriter, r *http.Request) error {
	ctx, now := r.Context(), s.now()
	var req api.LeaseRenew
	if err := decode(w, r, &req); err != nil {
		return err
	}
	o := s.origins
	o.mu.Lock()
	defer o.mu.Unlock()
	e, id, err := o.byLease(ctx, r.PathValue("id"), now)
	if err != nil {
		return fmt.Errorf("load origins: %w", err)
	}
	if e == nil {
		writeJSON(w, http.StatusOK, s.lost())
		return nil
	}
	feedback(e.alloc, now, req.Feedback)
	l, ok := e.alloc.Renew(now, id, req.Used)
	if !ok {
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
		return fmt.Errorf("store origin spent bytes: %w", err)
	}
	writeJSON(w, http.StatusOK, s.grant(e, l, ""))
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
	o := s.origins
	o.mu.Lock()
	defer o.mu.Unlock()
	e, id, err := o.byLease(ctx, r.PathValue("id"), now)
	if err != nil {
		return fmt.Errorf("load origins: %w", err)
	}
	if e != nil && e.alloc.Release(now, id, used) {
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
