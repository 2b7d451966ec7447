package controller

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"dist/core/api"
	"dist/core/store"
)

// Priorities a push may ask for: higher goes first in the upkeep and in the relay choice.
const (
	minPriority = -100
	maxPriority = 100
)

// deadlineReason is the error of a target that had not finished at the distribution's deadline.
const deadlineReason = "deadline passed before the file was complete"

// checkLifecycle validates the deadline and priority of a push.
func (s *Server) checkLifecycle(req api.CreateDistribution) error {
	if !req.Deadline.IsZero() && !req.Deadline.After(s.now()) {
		return badRequest("deadline %s has passed: give a time in the future", req.Deadline.Format(time.RFC3339))
	}
	if req.Priority < minPriority || req.Priority > maxPriority {
		return badRequest("priority %d is out of range: use %d to %d", req.Priority, minPriority, maxPriority)
	}
	return nil
}

// withLifecycle fills the deadline and priority of ds from the store.
func (s *Server) withLifecycle(ctx context.Context, ds []api.Distribution) error {
	lcs, err := s.st.Lifecycles(ctx)
	if err != nil {
		return err
	}
	for i := range ds {
		lc := lcs[ds[i].ID]
		ds[i].Deadline, ds[i].Priority = lc.Deadline, lc.Priority
	}
	return nil
}

// live answers the pending and active distributions, highest priority first, then oldest first,
// with their deadline and priority.
func (s *Server) live(ctx context.Context) ([]api.Distribution, error) {
	ds, err := s.st.DistributionHeads(ctx) // no counts: the upkeep and joiners need none
	if err != nil {
		return nil, fmt.Errorf("list distributions: %w", err)
	}
	ds = slices.DeleteFunc(ds, func(d api.Distribution) bool {
		return d.State.Ended()
	})
	if err := s.withLifecycle(ctx, ds); err != nil {
		return nil, fmt.Errorf("read deadlines: %w", err)
	}
	slices.SortStableFunc(ds, func(a, b api.Distribution) int {
		return cmp.Or(cmp.Compare(b.Priority, a.Priority), a.CreatedAt.Compare(b.CreatedAt))
	})
	return ds, nil
}

// lifecycle is the upkeep of live distributions: deadlines first (an ended distribution needs no
// relay), then lost relays. Answers whether any host's tasks changed.
func (s *Server) lifecycle(ctx context.Context, now time.Time) bool {
	s.forgetQuiet(now)
	ds, err := s.live(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("upkeep: cannot list live distributions", "err", err)
		}
		return false
	}
	changed := false
	for _, d := range ds {
		if !d.Deadline.IsZero() && !now.Before(d.Deadline) {
			moved, err := s.expire(ctx, d.ID, now)
			if err != nil {
				if ctx.Err() == nil {
					s.log.Warn("upkeep: cannot end distribution at its deadline", "id", d.ID, "err", err)
				}
				continue
			}
			changed = changed || moved
			continue
		}
		moved, err := s.replaceRelays(ctx, d.ID, now)
		if err != nil {
			if ctx.Err() == nil {
				s.log.Warn("upkeep: cannot replace relays", "id", d.ID, "err", err)
			}
			continue
		}
		changed = changed || moved
		// Then the bound on going without a working relay (relaywatch.go).
		moved, err = s.watchRelays(ctx, d.ID, now)
		if err != nil {
			if ctx.Err() == nil {
				s.log.Warn("upkeep: cannot check the relays", "id", d.ID, "err", err)
			}
			continue
		}
		changed = changed || moved
	}
	s.forgetRelayWaits(ds)
	return changed
}

// expire fails every unfinished client of a distribution whose deadline passed; the state then
// derives to partial (some done) or failed (none done).
func (s *Server) expire(ctx context.Context, id string, now time.Time) (bool, error) {
	as, err := s.st.Assignments(ctx, id)
	if err != nil {
		return false, err
	}
	n := 0
	for _, a := range as {
		if a.Role != api.RoleClient {
			continue
		}
		if a.State.Ended() {
			continue
		}
		// Reports are dropped from now on, before the state is written, so none undoes it; one
		// that slips in between reopens the distribution until the next upkeep ends it again.
		s.expireTask(a.ID)
		ok, err := s.st.EndAssignment(ctx, a.ID, api.TaskFailed, deadlineReason, now)
		if err != nil {
			return false, err
		}
		if ok {
			n++
		}
	}
	if n > 0 {
		s.event(ctx, store.Event{DistID: id, Kind: "deadline",
			Msg: fmt.Sprintf("deadline passed: %d unfinished targets failed", n)})
		s.log.Info("distribution deadline passed", "id", id, "unfinished", n)
	}
	moved, err := s.recompute(ctx, id)
	return moved || n > 0, err
}

// fleetState is what the controller keeps in memory beside the store to run distributions over
// time: when it started (hosts are not judged offline before they had time to come back), the
// targets ended by a deadline (their late reports must not reopen the distribution), and the last
// sample of each assignment (see reports.go). Everything here can be rebuilt from the store.
type fleetState struct {
	started time.Time

	mu       sync.Mutex
	loaded   bool            // expired was read from the store
	expired  map[string]bool // assignment ids failed by a deadline
	lastSeen map[string]sampleMark
	noRelay  map[string]relayWait // live distributions without a working relay (relaywatch.go)
}

func newFleetState(now time.Time) *fleetState {
	return &fleetState{started: now, expired: map[string]bool{}, lastSeen: map[string]sampleMark{},
		noRelay: map[string]relayWait{}}
}

// dropExpired removes from a report the tasks a deadline ended: the host may still be working on
// them, but the distribution has ended and its figures stay as they were at the deadline.
func (s *Server) dropExpired(ctx context.Context, ts []api.TaskReport) ([]api.TaskReport, error) {
	fs := s.fleet
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if !fs.loaded {
		if err := s.loadExpired(ctx); err != nil {
			return nil, err
		}
		fs.loaded = true
	}
	if len(fs.expired) == 0 {
		return ts, nil
	}
	return slices.DeleteFunc(ts, func(t api.TaskReport) bool { return fs.expired[t.ID] }), nil
}

// loadExpired reads the targets failed by deadlines of distributions that have one.
func (s *Server) loadExpired(ctx context.Context) error {
	lcs, err := s.st.Lifecycles(ctx)
	if err != nil {
		return fmt.Errorf("read deadlines: %w", err)
	}
	for id, lc := range lcs {
		if lc.Deadline.IsZero() {
			continue
		}
		as, err := s.st.Assignments(ctx, id)
		if err != nil {
			return fmt.Errorf("read assignments of %s: %w", id, err)
		}
		for _, a := range as {
			if a.State == api.TaskFailed && a.Error == deadlineReason {
				s.fleet.expired[a.ID] = true
			}
		}
	}
	return nil
}
