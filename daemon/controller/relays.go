package controller

import (
	"context"
	"fmt"
	"strings"
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
			if t.Distribution.State.Ended() || t.Assignment.State.Stopped() {
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
		return offlineSince + h.LastSeen.Format(time.RFC3339)
	}
	return ""
}

// offlineSince starts the reason of a relay lost for being offline; lostPrefix starts the error of
// a relay assignment the controller ended. A relay ended for being offline may be reused once it
// is back (reuseRelay); one that failed by itself is not.
const (
	offlineSince = "offline since "
	lostPrefix   = "relay lost: "
)

// replaceRelays replaces each lost relay of a live distribution by another relay host, once per lost
// relay, and records it as an event. Clients are re-pointed by the tracker: a lost relay is no longer
// handed out, and the clients it served are pointed at the remaining relays (selection.Point).
// Answers whether any host's tasks changed.
func (s *Server) replaceRelays(ctx context.Context, id string, now time.Time) (bool, error) {
	if st, ok := s.relayStatus(ctx, id, now); ok && !st.anyLost {
		return false, nil
	}
	l := s.distLock(id)
	l.Lock()
	defer l.Unlock()
	d, byName, live, err := s.liveDistribution(ctx, id)
	if err != nil || !live {
		return false, err
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
	reusedNow := map[string]bool{} // relays taken back in this pass
	for _, r := range lost {
		if replaced[r] {
			continue
		}
		hosts, err := s.allHosts(ctx)
		if err != nil {
			return changed, fmt.Errorf("list hosts: %w", err)
		}
		cands, err := s.relayCandidates(ctx, hosts, d.Publisher, now)
		if err != nil {
			return changed, err
		}
		next, ok := selection.Replace(cands, targets, relays, r)
		if !ok {
			// No spare relay. One this controller ended for being offline that is back takes its
			// task again. Otherwise the lost relay keeps its task: failing it would cancel the
			// task on the relay for good, and nothing would ever hand it out again; the tracker
			// skips it while it is offline, and watchRelays bounds the wait (relaywatch.go).
			reused, err := s.reuseRelay(ctx, d, byName, r, reasons[r], reusedNow, now)
			if err != nil {
				return changed, err
			}
			changed = changed || reused
			continue
		}
		// The lost relay fails, the new one is added and the event written in one transaction.
		ev := store.Event{At: now, DistID: id, Host: r, Kind: eventRelayReplaced,
			Msg: fmt.Sprintf("relay %s replaced by %s: %s", r, next, reasons[r])}
		if err := s.st.ReplaceRelay(ctx, id, r, lostPrefix+reasons[r], next, now, ev); err != nil {
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

// eventRelayReused is the kind of the event that records a relay taken back; its Host is that relay.
const eventRelayReused = "relay-reused"

// replacedRelays answers the relays of a distribution replaced and not taken back since: each
// loss is replaced once, and a relay reused and lost again can be replaced again.
func (s *Server) replacedRelays(ctx context.Context, id string) (map[string]bool, error) {
	s.settleEvents()
	evs, err := s.st.Events(ctx, id, 0)
	if err != nil {
		return nil, fmt.Errorf("events of %s: %w", id, err)
	}
	n := map[string]int{}
	for _, e := range evs {
		switch e.Kind {
		case eventRelayReplaced:
			n[e.Host]++
		case eventRelayReused:
			n[e.Host]--
		}
	}
	out := map[string]bool{}
	for h, k := range n {
		if k > 0 {
			out[h] = true
		}
	}
	return out, nil
}

// reuseRelay gives the task of lost relay r back to a relay of the distribution that this
// controller ended for being offline and that is online again, r itself first. Answers whether
// one was taken back.
func (s *Server) reuseRelay(ctx context.Context, d api.Distribution, byName map[string]api.Host, r, why string, taken map[string]bool, now time.Time) (bool, error) {
	var pick string
	for _, a := range d.Assignments {
		if a.Role != api.RoleRelay || a.State != api.TaskFailed || taken[a.Host] ||
			!strings.HasPrefix(a.Error, lostPrefix+offlineSince) {
			continue
		}
		if h, ok := byName[a.Host]; !ok || !s.online(h, now) || !h.HasRole(api.RoleRelay) {
			continue
		}
		if pick == "" || a.Host == r {
			pick = a.Host
		}
	}
	if pick == "" {
		return false, nil
	}
	msg := fmt.Sprintf("relay %s is back and takes the relay task again", pick)
	if pick != r {
		msg = fmt.Sprintf("relay %s is back and takes over from %s: %s", pick, r, why)
	}
	ok, err := s.st.ReopenAssignment(ctx, api.AssignmentID(d.ID, pick, api.RoleRelay), now,
		store.Event{At: now, DistID: d.ID, Host: pick, Kind: eventRelayReused, Msg: msg})
	if err != nil || !ok {
		return false, err
	}
	taken[pick] = true
	s.log.Info("relay reused", "id", d.ID, "relay", pick, "for", r)
	return true, nil
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
		case !a.State.Stopped() && alive(h):
			relays = append(relays, h)
		}
	}
	return selection.Point(relays, clients)[client]
}

// relaysSeen is what an upkeep pass learns of a distribution's relays from memory.
type relaysSeen struct {
	anyLost    bool // a relay failed, or its host is offline or unknown (lostRelay)
	anyWorking bool // a relay not cancelled and not lost
}

// relayStatus looks at the relays of distribution id in its view and the host index: in memory,
// without the distribution's lock. Most upkeep passes find every relay working and end here:
// reading a fleet's assignments from the store under the lock, every pass, held up each request
// that needed the lock (a relay's metainfo PUT waited seconds at 10,000 hosts). ok is false when
// the view cannot be read or the distribution has ended: the pass reads the store as before.
func (s *Server) relayStatus(ctx context.Context, id string, now time.Time) (relaysSeen, bool) {
	type relay struct {
		state api.TaskState
		h     api.Host
		known bool
	}
	var relays []relay
	ended := false
	if err := s.readView(ctx, id, func(v *distView) {
		ended = v.d.State.Ended()
		for _, m := range v.relays {
			relays = append(relays, relay{state: m.state, h: api.Host{Name: m.host}})
		}
	}); err != nil || ended {
		return relaysSeen{}, false
	}
	s.hosts.mu.RLock()
	for i, r := range relays {
		if h, ok := s.hosts.get(r.h.Name); ok {
			relays[i].h, relays[i].known = h, true
		}
	}
	s.hosts.mu.RUnlock()
	var seen relaysSeen
	for _, r := range relays {
		switch {
		case s.lostRelay(api.Assignment{Host: r.h.Name, State: r.state}, r.h, r.known, now) != "":
			seen.anyLost = true
		case r.state != api.TaskCancelled:
			seen.anyWorking = true
		}
	}
	return seen, true
}

// liveDistribution reads distribution id and the hosts by name for an upkeep pass; live is false
// when the distribution has ended (nothing to look after).
func (s *Server) liveDistribution(ctx context.Context, id string) (api.Distribution, map[string]api.Host, bool, error) {
	d, err := s.st.Distribution(ctx, id)
	if err != nil {
		return d, nil, false, fmt.Errorf("read distribution %s: %w", id, err)
	}
	if d.State.Ended() {
		return d, nil, false, nil
	}
	byName, err := s.hostMap(ctx)
	if err != nil {
		return d, nil, false, fmt.Errorf("list hosts: %w", err)
	}
	return d, byName, true, nil
}
