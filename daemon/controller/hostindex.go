package controller

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"dist/core/api"
	"dist/core/store"
)

// seenFlushEvery is how often the last_seen times kept in memory are written to the store, in one
// transaction: a fleet's watches and heartbeats are thousands a second, and each one writing would
// make the database the bottleneck. A crash loses at most this much of liveness, which the online
// window covers.
const seenFlushEvery = 5 * time.Second

// hostIndex holds every host in memory: the store is written when a host registers (and its
// last_seen in batches), never read again after the first load.
type hostIndex struct {
	loadMu sync.Mutex // held only while loading, once
	loaded bool

	mu      sync.RWMutex
	byName  map[string]api.Host
	dirty   map[string]time.Time // last_seen not written yet
	flushed time.Time            // when dirty was last taken for writing
}

func newHostIndex() *hostIndex {
	return &hostIndex{byName: map[string]api.Host{}, dirty: map[string]time.Time{}}
}

// hostsReady loads the hosts from the store on first use.
func (s *Server) hostsReady(ctx context.Context) error {
	hi := s.hosts
	hi.mu.RLock()
	ok := hi.loaded
	hi.mu.RUnlock()
	if ok {
		return nil
	}
	hi.loadMu.Lock()
	defer hi.loadMu.Unlock()
	hi.mu.RLock()
	ok = hi.loaded
	hi.mu.RUnlock()
	if ok {
		return nil
	}
	hs, err := s.st.Hosts(ctx)
	if err != nil {
		return fmt.Errorf("load hosts: %w", err)
	}
	hi.mu.Lock()
	for _, h := range hs {
		if cur, ok := hi.byName[h.Name]; !ok || cur.LastSeen.Before(h.LastSeen) {
			hi.byName[h.Name] = h
		}
	}
	hi.loaded = true
	hi.flushed = s.now()
	hi.mu.Unlock()
	return nil
}

// hostByName answers a host from memory.
func (s *Server) hostByName(ctx context.Context, name string) (api.Host, bool, error) {
	if err := s.hostsReady(ctx); err != nil {
		return api.Host{}, false, err
	}
	s.hosts.mu.RLock()
	defer s.hosts.mu.RUnlock()
	h, ok := s.hosts.byName[name]
	return h, ok, nil
}

// allHosts answers every host ordered by name (admin calls and pushes: O(fleet) by nature).
func (s *Server) allHosts(ctx context.Context) ([]api.Host, error) {
	if err := s.hostsReady(ctx); err != nil {
		return nil, err
	}
	s.hosts.mu.RLock()
	hs := slices.Collect(maps.Values(s.hosts.byName))
	s.hosts.mu.RUnlock()
	slices.SortFunc(hs, func(a, b api.Host) int { return cmp.Compare(a.Name, b.Name) })
	return hs, nil
}

// hostMap answers a snapshot of the hosts by name.
func (s *Server) hostMap(ctx context.Context) (map[string]api.Host, error) {
	if err := s.hostsReady(ctx); err != nil {
		return nil, err
	}
	s.hosts.mu.RLock()
	defer s.hosts.mu.RUnlock()
	return maps.Clone(s.hosts.byName), nil
}

// putHost stores a registered host and keeps it in memory.
func (s *Server) putHost(ctx context.Context, h api.Host) error {
	if err := s.hostsReady(ctx); err != nil {
		return err
	}
	if err := s.st.UpsertHost(ctx, h); err != nil {
		return err
	}
	s.hosts.mu.Lock()
	s.hosts.byName[h.Name] = h
	delete(s.hosts.dirty, h.Name) // the upsert wrote its last_seen
	s.hosts.mu.Unlock()
	return nil
}

// touch records that a host was seen: in memory at once, in the store with the next batch.
// store.ErrNotFound when the host is not registered.
func (s *Server) touch(ctx context.Context, name string, at time.Time) error {
	if err := s.hostsReady(ctx); err != nil {
		return err
	}
	hi := s.hosts
	hi.mu.Lock()
	h, ok := hi.byName[name]
	if !ok {
		hi.mu.Unlock()
		return fmt.Errorf("touch host %s: %w", name, store.ErrNotFound)
	}
	if at.After(h.LastSeen) {
		h.LastSeen = at
		hi.byName[name] = h
		hi.dirty[name] = at
	}
	due := at.Sub(hi.flushed) >= seenFlushEvery
	hi.mu.Unlock()
	if due {
		s.flushSeen(ctx, at)
	}
	return nil
}

// flushSeen writes the pending last_seen times in one transaction. The batch is taken under the
// lock and written outside it; a failed write puts it back for the next try.
func (s *Server) flushSeen(ctx context.Context, now time.Time) {
	hi := s.hosts
	hi.mu.Lock()
	batch := hi.dirty
	if len(batch) == 0 {
		hi.flushed = now
		hi.mu.Unlock()
		return
	}
	hi.dirty = map[string]time.Time{}
	hi.flushed = now
	hi.mu.Unlock()
	if err := s.st.TouchHosts(context.WithoutCancel(ctx), batch); err != nil {
		s.log.Warn("cannot store last seen times", "hosts", len(batch), "err", err)
		hi.mu.Lock()
		for n, at := range batch {
			if cur, ok := hi.dirty[n]; !ok || cur.Before(at) {
				hi.dirty[n] = at
			}
		}
		hi.mu.Unlock()
	}
}
