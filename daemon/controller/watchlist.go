package controller

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"dist/core/api"
)

// watchList is the set of distributions a watch answer may name (pending or active; complete or
// partial and ended within Keep), in creation order. It is read from the store when the set
// changes (a push, a distribution's state) and never per watch: the answer to a wake of the whole
// fleet is built from this list and the distributions' views, in memory, at a cost that grows
// with the host's own tasks only.
type watchList struct {
	mu   sync.Mutex
	gen  uint64 // moved by every change of the set
	read uint64 // the gen ds was read at
	ok   bool
	ds   []watchDist

	reading sync.Mutex // one store read at a time; the others take its list
}

type watchDist struct {
	id    string
	state api.DistState
	ended time.Time
}

// changed records that the set may have changed: the next answer reads it again.
func (wl *watchList) changed() {
	wl.mu.Lock()
	wl.gen++
	wl.mu.Unlock()
}

func (wl *watchList) current() ([]watchDist, bool) {
	wl.mu.Lock()
	defer wl.mu.Unlock()
	return wl.ds, wl.ok && wl.read == wl.gen
}

// watchDists answers the list, read from the store when it changed since it was last read.
func (s *Server) watchDists(ctx context.Context) ([]watchDist, error) {
	wl := &s.views.watch
	if ds, ok := wl.current(); ok {
		return ds, nil
	}
	wl.reading.Lock()
	defer wl.reading.Unlock()
	if ds, ok := wl.current(); ok {
		return ds, nil // read meanwhile by another watch
	}
	wl.mu.Lock()
	gen := wl.gen
	wl.mu.Unlock()
	all, err := s.st.DistributionHeads(ctx) // one row per distribution: no aggregate over the fleet
	if err != nil {
		return nil, fmt.Errorf("list distributions: %w", err)
	}
	ds := make([]watchDist, 0, len(all))
	slices.SortStableFunc(all, func(a, b api.Distribution) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), strings.Compare(a.ID, b.ID))
	})
	cutoff := s.now().Add(-s.o.Keep)
	var gone []string // ended and out of every answer: their views are of no more use
	for _, d := range all {
		if watchable(d, cutoff) {
			ds = append(ds, watchDist{id: d.ID, state: d.State, ended: d.EndedAt})
		} else if d.State.Ended() {
			gone = append(gone, d.ID)
		}
	}
	s.views.dropEnded(gone)
	wl.mu.Lock()
	if wl.gen == gen { // else it changed while read: use it for this answer, read again next time
		wl.ds, wl.read, wl.ok = ds, gen, true
	}
	wl.mu.Unlock()
	return ds, nil
}

// hostTasksFromViews builds the host's live tasks from the watch list and the views, in the
// order the store answers them: by distribution, relay before client.
func (s *Server) hostTasksFromViews(ctx context.Context, host string) ([]api.Task, error) {
	ds, err := s.watchDists(ctx)
	if err != nil {
		return nil, err
	}
	cutoff := s.now().Add(-s.o.Keep)
	tasks := []api.Task{}
	for _, wd := range ds {
		if wd.state.Ended() && !wd.ended.After(cutoff) {
			continue
		}
		start := len(tasks) // its tasks go straight into the answer
		var mi []byte
		err := s.readView(ctx, wd.id, func(v *distView) {
			d := v.d
			if !watchable(d, cutoff) {
				return // its state moved since the list was read
			}
			for _, role := range [...]api.Role{api.RoleRelay, api.RoleClient} {
				// api.AssignmentID in a stack buffer: a lookup by it allocates nothing.
				var kb [256]byte
				k := append(kb[:0], d.ID...)
				k = append(k, '/')
				k = append(k, host...)
				k = append(k, '/')
				k = append(k, role...)
				m := v.members[string(k)]
				if m == nil {
					continue
				}
				mi = d.Metainfo
				tasks = append(tasks, api.Task{
					ID: m.id, DistID: d.ID, Role: m.role, Name: d.Name, Source: d.Source, Size: d.Size,
					PieceLen: d.PieceLength, Dest: d.Dest, Base: d.Base, SHA256: d.SHA256,
					Cancel:   m.state.Stopped() || d.State == api.DistCancelled,
					Settings: d.Settings,
				})
			}
		})
		if err != nil {
			return nil, fmt.Errorf("distribution %s: %w", wd.id, err)
		}
		if len(tasks) == start {
			continue
		}
		// The bytes are fetched once by their sum (GET /v1/metainfo/{sum}), never resent.
		sum := s.views.metaSum(wd.id, mi)
		for i := start; i < len(tasks); i++ {
			tasks[i].MetainfoSHA256 = sum
		}
	}
	return tasks, nil
}

// watchable reports whether a watch answer names d: pending or active, or complete or partial
// and ended after cutoff.
func watchable(d api.Distribution, cutoff time.Time) bool {
	switch d.State {
	case api.DistPending, api.DistActive:
		return true
	case api.DistComplete, api.DistPartial:
		return d.EndedAt.After(cutoff)
	}
	return false
}

// dropEnded forgets the views of the distributions in ids that are held: they ended and left
// every watch answer, so no host asks about them any more (one that does gets the view built
// again).
func (vs *views) dropEnded(ids []string) {
	vs.mu.Lock()
	defer vs.mu.Unlock()
	for _, id := range ids {
		if _, ok := vs.byID[id]; ok {
			delete(vs.byID, id)
			vs.gen[id]++
		}
	}
}
