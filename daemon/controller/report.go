package controller

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"dist/core/api"
	"dist/core/store"
)

// report answers POST /v1/report: a host's progress on each of its tasks.
func (s *Server) report(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	var rep api.Report
	if err := decode(w, r, &rep); err != nil {
		return err
	}
	if err := checkReport(&rep); err != nil {
		return err
	}
	if rep.Host == "" {
		return badRequest("report names no host: set host")
	}
	if err := mayReport(callerOf(r), rep); err != nil {
		return err // before anything is written: a refused report changes nothing
	}
	for _, t := range rep.Tasks {
		if t.ID == "" {
			return badRequest("a task in the report has no id")
		}
		if t.State != "" && !t.State.Valid() { // empty keeps the stored state
			return badRequest("task %s has unknown state %q: use pending, waiting, downloading, seeding, done, failed or cancelled", t.ID, t.State)
		}
	}
	now := s.now()
	// A report proves the host is alive as much as a watch does.
	if err := s.touch(ctx, rep.Host, now); err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("touch host %s: %w", rep.Host, err)
	}
	if len(rep.Tasks) == 0 {
		// An idle heartbeat: the touch above is all it says, and it writes nothing now.
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	s.modeEvents(ctx, rep)
	kept, err := s.dropExpired(ctx, rep.Tasks) // a deadline ended them: late reports change nothing
	if err != nil {
		return fmt.Errorf("report of %s: %w", rep.Host, err)
	}
	rep.Tasks = kept
	// State changes are written now; figures alone with the next flush (progress.go).
	samples := s.sample(rep, now)
	direct, later := s.splitReport(ctx, rep.Host, rep.Tasks)
	s.gather(rep.Host, later, direct, samples, now)
	var changed []string
	if len(direct) > 0 {
		var err error
		changed, err = s.applyNow(ctx, rep.Host, direct, now)
		if err != nil {
			return fmt.Errorf("apply report of %s: %w", rep.Host, err)
		}
	}
	defer s.flushSoon(ctx, now)
	if len(changed) > 0 {
		if err := s.afterReport(ctx, rep, changed); err != nil {
			return err
		}
	}
	if err := s.sourceFinal(ctx, rep, now); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// afterReport records the failures among the changed tasks and recomputes the state of every
// distribution they belong to. Watchers are woken only when a distribution's state changes: a task
// moving from downloading to done changes no host's task list, and waking every watch for each of
// thousands of such reports would make the watch stream quadratic.
func (s *Server) afterReport(ctx context.Context, rep api.Report, changed []string) error {
	byID := make(map[string]api.TaskReport, len(rep.Tasks))
	for _, t := range rep.Tasks {
		byID[t.ID] = t
	}
	var dists []string
	seen := map[string]bool{}
	for _, id := range changed {
		distID, _, _, _ := api.SplitAssignmentID(id)
		if !seen[distID] {
			seen[distID] = true
			dists = append(dists, distID)
		}
		if t := byID[id]; t.State == api.TaskFailed {
			msg := t.Error
			if msg == "" {
				msg = "no reason given"
			}
			s.event(ctx, store.Event{DistID: distID, Host: rep.Host, Kind: "failed",
				Msg: fmt.Sprintf("task %s failed: %s", id, msg)})
			s.log.Warn("task failed", "task", id, "host", rep.Host, "err", msg)
		}
	}
	for _, id := range dists {
		moved, err := s.recompute(ctx, id)
		if err != nil {
			return err
		}
		if moved {
			s.wakeDist(ctx, id)
		}
	}
	return nil
}

// recompute derives the distribution's state from its assignments and stores it when it changed;
// it answers whether the change alters what its hosts' watches answer.
// The counters come from the distribution's view (distview.go): O(1), whatever the fleet.
func (s *Server) recompute(ctx context.Context, id string) (bool, error) {
	l := s.distLock(id)
	l.Lock()
	defer l.Unlock()
	var d api.Distribution
	var next api.DistState
	err := s.readView(ctx, id, func(v *distView) {
		d = v.d
		d.Targets, d.Done, d.Failed = v.figures()
		next = stateOfCounts(d.State, v.clients)
	})
	if errors.Is(err, store.ErrNotFound) {
		return false, nil // a report for a distribution that is gone: nothing to derive
	}
	if err != nil {
		return false, fmt.Errorf("read distribution %s: %w", id, err)
	}
	if next == d.State {
		return false, nil
	}
	end := d.EndedAt // the first end counts for how long hosts keep seeding
	if next.Ended() && end.IsZero() {
		end = s.now()
	}
	if err := s.st.SetDistributionState(ctx, id, next, end); err != nil {
		return false, fmt.Errorf("set state of %s: %w", id, err)
	}
	s.forgetLive() // live or not changes what a registering host joins
	msg := fmt.Sprintf("state %s (was %s)", next, d.State)
	if next.Ended() {
		msg += fmt.Sprintf(": %d of %d targets done, %d failed", d.Done, d.Targets, d.Failed)
	}
	s.event(ctx, store.Event{DistID: id, Kind: "state", Msg: msg})
	s.log.Info("distribution state changed", "id", id, "state", next, "was", d.State)
	now := s.now()
	return s.listed(d.State, d.EndedAt, now) != s.listed(next, end, now) ||
		(d.State == api.DistCancelled) != (next == api.DistCancelled), nil
}

// listed reports whether a distribution in state st, ended at ended, is in its hosts' task lists
// (store.HostTaskHeads): a state change that keeps it there, with the same cancel flag, changes
// no host's answer and wakes nobody (pending → active → complete is most of a push).
func (s *Server) listed(st api.DistState, ended, now time.Time) bool {
	switch st {
	case api.DistPending, api.DistActive:
		return true
	case api.DistComplete, api.DistPartial:
		return ended.IsZero() || ended.After(now.Add(-s.o.Keep))
	}
	return false
}
