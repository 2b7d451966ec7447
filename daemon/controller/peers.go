package controller

import (
	"fmt"
	"net/http"

	"dist/core/api"
	"dist/core/selection"
)

// maxPeers is how many peers one answer hands out: enough for a healthy swarm, few enough that
// thousands of hosts do not all dial the same complete peers.
const maxPeers = 50

// peers answers GET /v1/distributions/{id}/peers?host=NAME: the tracker.
func (s *Server) peers(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	name := r.URL.Query().Get("host")
	if name == "" {
		return badRequest("host is missing: ask as ?host=NAME")
	}
	if err := checkString("host", name, maxNameLen); err != nil {
		return err
	}
	d, err := s.distribution(ctx, r.PathValue("id"))
	if err != nil {
		return err
	}
	hosts, err := s.st.Hosts(ctx)
	if err != nil {
		return fmt.Errorf("list hosts: %w", err)
	}
	now := s.now()
	byName := make(map[string]api.Host, len(hosts))
	for _, h := range hosts {
		byName[h.Name] = h
	}
	self, ok := byName[name]
	if !ok {
		// An unregistered asker still gets peers (ordered without locality): it may have been
		// started before the controller learned of it.
		self = api.Host{Name: name}
	}

	// The relay this host is pointed at comes first among relays; a lost relay's clients are
	// pointed at the others (relays.go).
	pointed := pointedRelay(d, byName, name, func(h api.Host) bool { return s.online(h, now) })
	var cands []selection.PeerCand
	add := func(host string, relay, complete bool) {
		h, ok := byName[host]
		if !ok || !s.online(h, now) {
			return
		}
		cands = append(cands, selection.PeerCand{Host: h, Relay: relay, Complete: complete, Pointed: relay && host == pointed})
	}
	if d.Publisher != "" {
		add(d.Publisher, false, true) // it published a local file: it has every piece
	}
	for _, a := range d.Assignments {
		if a.State.Stopped() {
			continue // gave up: its pieces are not worth a connection
		}
		add(a.Host, a.Role == api.RoleRelay, a.State.Complete())
	}
	writeJSON(w, http.StatusOK, api.Peers{Peers: selection.OrderPeers(self, cands, maxPeers)})
	return nil
}
