package controller

import (
	"context"
	"fmt"
	"slices"
	"time"

	"dist/core/api"
	"dist/core/store"
)

// join adds a host that registers to every live distribution whose selectors pick it and that it
// is not part of yet, so a host that joins the fleet later gets what its peers are getting. A host
// that was a target already (offline at push time) keeps its assignment: the watch delivers it.
// A host waiting for approval, denied or revoked joins nothing: its approval joins it
// (approval.go). A host that got anything new is woken, wherever its watch is held.
func (s *Server) join(ctx context.Context, h api.Host) error {
	if !h.HasRole(api.RoleClient) || s.accessOf(h) != "" {
		return nil
	}
	ds, err := s.liveForJoin(ctx)
	if err != nil {
		return err
	}
	joined := false
	for _, d := range ds {
		if !slices.ContainsFunc(d.Selectors, func(sel string) bool { return matches(sel, h) }) {
			continue
		}
		// The list may be a moment old: the state is read again from the view.
		if cur, err := s.distHead(ctx, d.ID); err != nil || cur.State.Ended() {
			continue
		}
		if d.Publisher == h.Name {
			continue // it has the file: it seeds, it does not download
		}
		member := false
		if err := s.readView(ctx, d.ID, func(v *distView) {
			member = v.members[api.AssignmentID(d.ID, h.Name, api.RoleClient)] != nil
		}); err == nil && member {
			continue // a target already (a host registering again, heard over the bus): no write
		}
		added, err := s.st.AddAssignments(ctx, d.ID, []api.Assignment{{
			Host: h.Name, Role: api.RoleClient, State: api.TaskPending, UpdatedAt: s.now(),
		}})
		if err != nil {
			return fmt.Errorf("add %s to distribution %s: %w", h.Name, d.ID, err)
		}
		if len(added) == 0 {
			continue
		}
		joined = true
		s.event(ctx, store.Event{DistID: d.ID, Host: h.Name, Kind: "joined",
			Msg: fmt.Sprintf("host %s registered and matches the selectors: it joins", h.Name)})
		s.log.Info("host joins a live distribution", "id", d.ID, "host", h.Name)
	}
	if joined {
		s.notify.wakeHosts([]string{h.Name})
	}
	return nil
}

// joinListFresh is how long the live distributions listed for joiners are used again: a fleet
// registering (again) thousands a second would otherwise list them for each one.
const joinListFresh = 2 * time.Second

// liveForJoin answers the live distributions, listed at most every joinListFresh; a push lists
// them again at once (forgetLive).
func (s *Server) liveForJoin(ctx context.Context) ([]api.Distribution, error) {
	now := s.now()
	s.joinMu.Lock()
	defer s.joinMu.Unlock()
	// joinAt, not the list, says whether it was listed: an empty list (nothing live, the common
	// case of a fleet starting) is kept too, or every registration would read the store.
	if !s.joinAt.IsZero() && now.Sub(s.joinAt) < joinListFresh && !now.Before(s.joinAt) {
		return s.joinList, nil
	}
	ds, err := s.live(ctx)
	if err != nil {
		return nil, err
	}
	s.joinList, s.joinAt = ds, now
	return ds, nil
}

// forgetLive makes the next joiner list the live distributions again.
func (s *Server) forgetLive() {
	s.joinMu.Lock()
	s.joinList, s.joinAt = nil, time.Time{}
	s.joinMu.Unlock()
}
