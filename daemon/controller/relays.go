package controller

import (
	"context"
	"fmt"
	"time"

	"dist/core/api"
	"dist/core/selection"
	"dist/core/store"
)

// historyDistributions is how many recent distributions the relay history looks at.
const historyDistributions = 50

// relayCandidates answers the online relay hosts other than skip, each with its load (relay tasks
// under way, clients connected, upload rate in flight) and history (throughput to each site).
func (s *Server) relayCandidates(ctx context.Context, hosts []api.Host, skip string, now time.Time) ([]selection.Candidate, error) {
	rates, err := s.st.RelayRates(ctx, historyDistributions)
	if err != nil {
		return nil, fmt.Errorf("relay history: %w", err)
	}
	hist := map[string]map[string]int64{}
	for _, r := range rates {
		if hist[r.Relay] == nil {
			hist[r.Relay] = map[string]int64{}
		}
		hist[r.Relay][r.Site] = r.Rate
	}
	var cands []selection.Candidate
	for _, h := range hosts {
		if !h.HasRole(api.RoleRelay) || h.Name == skip || !s.online(h, now) {
			continue
		}
		tasks, err := s.st.HostTasks(ctx, h.Name, now, 0)
		if err != nil {
			return nil, fmt.Errorf("tasks of relay %s: %w", h.Name, err)
		}
		c := selection.Candidate{Host: h, Throughput: hist[h.Name], UpRate: s.upRate(h.Name, now)}
		for _, t := range tasks {
			switch t.Distribution.State {
			case api.DistPending, api.DistActive:
			default:
				continue
			}
			switch t.Assignment.State {
			case api.TaskFailed, api.TaskCancelled:
				continue
			}
			c.Transfers += t.Assignment.Peers
			if t.Assignment.Role == api.RoleRelay {
				c.Active++
			}
		}
		cands = append(cands, c)
	}
	return cands, nil
}

// lostRelay answers why relay assignment a no longer serves, or "" while it does. A host is judged
// offline only once the controller itself has been up for the online window: after a restart every
// host looks silent until it has reconnected.
func (s *Server) lostRelay(a api.Assignment, h api.Host, known bool, now time.Time) string {
	switch a.State {
	case api.TaskFailed:
		if a.Error != "" {
			return "failed: " + a.Error
		}
		return "failed"
	case api.TaskCancelled:
		return ""
	}
	if now.Sub(s.fleet.started) < s.o.OnlineWindow {
		return ""
	}
	if !known || !s.online(h, now) {
		return "offline since " + h.LastSeen.Format(time.RFC3339)
	}
	return ""
}

// replaceRelays replaces each lost relay of a live distribution by another relay host, once per lost
// relay, and records it as an event. Clients are re-pointed by the tracker: a lost relay is no longer
// handed out, and the clients it served are pointed at the remaining relays (selection.Point).
// Answers whether any host's tasks changed.
func (s *Server) replaceRelays(ctx context.Context, id string, now time.Time) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, err := s.st.Distribution(ctx, id)
	if err != nil {
		return false, fmt.Errorf("read distribution %s: %w", id, err)
	}
	if d.State != api.DistPending && d.State != api.DistActive {
		return false, nil
	}
	hosts, err := s.st.Hosts(ctx)
	if err != nil {
		return false, fmt.Errorf("list hosts: %w", err)
	}
	byName := make(map[string]api.Host, len(hosts))
	for _, h := range hosts {
		byName[h.Name] = h
	}
	var relays, lost []string
	var targets []api.Host
	reasons := map[string]string{}
	for _, a := range d.Assignments {
		switch a.Role {
		case api.RoleClient:
			if h, ok := byName[a.Host]; ok {
				targets = append(targets, h)
			}
		case api.RoleRelay:
			relays = append(relays, a.Host)
			h, known := byName[a.Host]
			if why := s.lostRelay(a, h, known, now); why != "" {
				lost = append(lost, a.Host)
				reasons[a.Host] = why
			}
		}
	}
	if len(lost) == 0 {
		return false, nil
	}
	replaced, err := s.replacedRelays(ctx, id)
	if err != nil {
		return false, err
	}
	changed := false
	for _, r := range lost {
		if replaced[r] {
			continue
		}
		cands, err := s.relayCandidates(ctx, hosts, d.Publisher, now)
		if err != nil {
			return changed, err
		}
		next, ok := selection.Replace(cands, targets, relays, r)
		if !ok {
			// No spare relay: the lost one is still failed, so the tracker stops handing it out.
			if assignmentState(d, api.AssignmentID(id, r, api.RoleRelay)) != api.TaskFailed {
				if _, err := s.st.EndAssignment(ctx, api.AssignmentID(id, r, api.RoleRelay), api.TaskFailed, "relay lost: "+reasons[r], now); err != nil {
					return changed, err
				}
				changed = true
			}
			s.log.Warn("relay lost and no other relay to replace it", "id", id, "relay", r, "why", reasons[r])
			continue
		}
		// The lost relay fails, the new one is added and the event written in one transaction.
		ev := store.Event{At: now, DistID: id, Host: r, Kind: eventRelayReplaced,
			Msg: fmt.Sprintf("relay %s replaced by %s: %s", r, next, reasons[r])}
		if err := s.st.ReplaceRelay(ctx, id, r, "relay lost: "+reasons[r], next, now, ev); err != nil {
			return changed, err
		}
		relays = append(relays, next)
		s.log.Info("relay replaced", "id", id, "lost", r, "by", next, "why", reasons[r])
		changed = true
	}
	return changed, nil
}

// eventRelayReplaced is the kind of the event that records a relay replacement; its Host is the
// relay that was lost.
const eventRelayReplaced = "relay-replaced"

// replacedRelays answers the relays of a distribution already replaced.
func (s *Server) replacedRelays(ctx context.Context, id string) (map[string]bool, error) {
	evs, err := s.st.Events(ctx, id, 0)
	if err != nil {
		return nil, fmt.Errorf("events of %s: %w", id, err)
	}
	out := map[string]bool{}
	for _, e := range evs {
		if e.Kind == eventRelayReplaced {
			out[e.Host] = true
		}
	}
	return out, nil
}

func assignmentState(d api.Distribution, id string) string {
	for _, a := range d.Assignments {
		if a.ID == id {
			return a.State
		}
	}
	return ""
}

// pointedRelay answers the relay the tracker points client at: its share of the distribution's
// live relays (selection.Point), so that relays share the clients and a lost relay's clients move.
func pointedRelay(d api.Distribution, byName map[string]api.Host, client string, alive func(api.Host) bool) string {
	var relays, clients []api.Host
	for _, a := range d.Assignments {
		h, ok := byName[a.Host]
		if !ok {
			continue
		}
		switch {
		case a.Role == api.RoleClient:
			clients = append(clients, h)
		case a.State != api.TaskFailed && a.State != api.TaskCancelled && alive(h):
			relays = append(relays, h)
		}
	}
	return selection.Point(relays, clients)[client]
}
