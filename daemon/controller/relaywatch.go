package controller

import (
	"context"
	"fmt"
	"strings"
	"time"

	"dist/core/api"
	"dist/core/store"
)

// DefaultNoRelayTimeout is Options.NoRelayTimeout when left zero.
const DefaultNoRelayTimeout = 2 * time.Minute

// relayWait is when a live distribution was first seen without a working relay, and the bytes its
// targets held then: bytes arriving (from peers that still have pieces) restart the wait. It is
// kept in memory only: a restarted controller starts the wait afresh, after its online window.
type relayWait struct {
	since time.Time
	have  int64
}

// watchRelays bounds how long a live distribution that has relays goes without a working one:
// every relay failed, or offline past the online window. While none works and the targets gain
// no bytes for Options.NoRelayTimeout, replaceRelays had every upkeep pass to fall back to
// another relay; after that the distribution fails with the reason. Answers whether any host's
// tasks changed.
func (s *Server) watchRelays(ctx context.Context, id string, now time.Time) (bool, error) {
	if st, ok := s.relayStatus(ctx, id, now); ok && st.anyWorking {
		s.relayWorks(id)
		return false, nil
	}
	d, byName, live, err := s.liveDistribution(ctx, id)
	if err != nil || !live {
		return false, err
	}
	var why []string
	for _, a := range d.Assignments {
		if a.Role != api.RoleRelay || a.State == api.TaskCancelled {
			continue
		}
		h, known := byName[a.Host]
		lost := s.lostRelay(a, h, known, now)
		if lost == "" {
			s.relayWorks(id)
			return false, nil
		}
		why = append(why, "relay "+a.Host+" "+lost)
	}
	if len(why) == 0 {
		return false, nil // no relay to wait for: a published file is seeded by its publisher
	}
	if !targetWaiting(d, byName, func(h api.Host) bool { return s.online(h, now) }) {
		// Every unfinished target is offline: nobody waits for a relay yet, and one that comes
		// back may still get the file from the targets that seed it.
		s.relayWorks(id)
		return false, nil
	}
	fs := s.fleet
	fs.mu.Lock()
	w, waiting := fs.noRelay[id]
	if !waiting || d.Have > w.have {
		fs.noRelay[id] = relayWait{since: now, have: d.Have}
	}
	fs.mu.Unlock()
	if !waiting {
		s.event(ctx, store.Event{At: now, DistID: id, Kind: "no-relay",
			Msg: fmt.Sprintf("no working relay (%s): waiting up to %s for one", strings.Join(why, "; "), s.o.NoRelayTimeout)})
		s.log.Warn("distribution has no working relay", "id", id, "why", why, "bound", s.o.NoRelayTimeout)
		return false, nil
	}
	if d.Have > w.have || now.Sub(w.since) < s.o.NoRelayTimeout {
		return false, nil
	}
	reason := fmt.Sprintf("no relay has served distribution %s for %s: %s", id, s.o.NoRelayTimeout, strings.Join(why, "; "))
	return s.failDistribution(ctx, id, reason, now)
}

// relayWorks forgets a wait: the distribution has a working relay again.
func (s *Server) relayWorks(id string) {
	s.fleet.mu.Lock()
	delete(s.fleet.noRelay, id)
	s.fleet.mu.Unlock()
}

// forgetRelayWaits drops the waits of distributions that are no longer live.
func (s *Server) forgetRelayWaits(live []api.Distribution) {
	keep := make(map[string]bool, len(live))
	for _, d := range live {
		keep[d.ID] = true
	}
	s.fleet.mu.Lock()
	defer s.fleet.mu.Unlock()
	for id := range s.fleet.noRelay {
		if !keep[id] {
			delete(s.fleet.noRelay, id)
		}
	}
}

// failDistribution ends a live distribution for reason: every unfinished assignment (targets and
// relays) fails with it, and the state derives to failed, or partial when some targets are done.
// Like a deadline, it drops the late reports of those assignments, so that a host still working
// cannot reopen the distribution. Answers whether anything changed.
func (s *Server) failDistribution(ctx context.Context, id, reason string, now time.Time) (bool, error) {
	as, err := s.st.Assignments(ctx, id)
	if err != nil {
		return false, fmt.Errorf("assignments of %s: %w", id, err)
	}
	n := 0
	for _, a := range as {
		if a.State.Ended() {
			continue
		}
		s.expireTask(a.ID)
		ok, err := s.st.EndAssignment(ctx, a.ID, api.TaskFailed, reason, now)
		if err != nil {
			return false, err
		}
		if ok {
			n++
		}
	}
	s.event(ctx, store.Event{At: now, DistID: id, Kind: "failed", Msg: "distribution failed: " + reason})
	s.log.Warn("distribution failed", "id", id, "reason", reason, "ended", n)
	moved, err := s.recompute(ctx, id)
	return moved || n > 0, err
}

// sourceFinal fails at once each live distribution whose relay task the report says failed
// because the origin's answer is final (api.CodeSourceFinal: 404/410, the file or its size
// changed): another relay would get the same answer, so replacing the relay would only repeat it.
// Other relay failures are left to replaceRelays.
func (s *Server) sourceFinal(ctx context.Context, rep api.Report, now time.Time) error {
	for _, t := range rep.Tasks {
		if t.State != api.TaskFailed || t.ErrorCode != api.CodeSourceFinal {
			continue
		}
		distID, host, role, ok := api.SplitAssignmentID(t.ID)
		if !ok || host != rep.Host || role != api.RoleRelay {
			continue // only a relay's word on the origin ends a distribution
		}
		d, err := s.st.Distribution(ctx, distID)
		if err != nil || d.State.Ended() {
			continue // gone or ended: nothing to fail
		}
		if !hasAssignment(d, t.ID) {
			continue
		}
		msg := t.Error
		if msg == "" {
			msg = "no reason given"
		}
		reason := fmt.Sprintf("the origin's answer is final (relay %s): %s", rep.Host, msg)
		moved, err := s.failDistribution(ctx, distID, reason, now)
		if err != nil {
			return fmt.Errorf("fail distribution %s: %w", distID, err)
		}
		if moved {
			s.wakeDist(ctx, distID)
		}
	}
	return nil
}

func hasAssignment(d api.Distribution, id string) bool {
	for _, a := range d.Assignments {
		if a.ID == id {
			return true
		}
	}
	return false
}

// targetWaiting reports whether an unfinished target of d is online.
func targetWaiting(d api.Distribution, byName map[string]api.Host, online func(api.Host) bool) bool {
	for _, a := range d.Assignments {
		if a.Role != api.RoleClient {
			continue
		}
		switch a.State {
		case api.TaskDone, api.TaskSeeding, api.TaskFailed, api.TaskCancelled:
			continue
		}
		if h, ok := byName[a.Host]; ok && online(h) {
			return true
		}
	}
	return false
}
