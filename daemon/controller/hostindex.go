package controller

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
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
// last_seen in batches), never read again after the first load. A host's last_seen moves on
// every call it makes, so it lives beside the host in atomics: a touch takes the read lock only,
// and never makes the peers asks that read the index wait for a writer.
type hostIndex struct {
	loadMu sync.Mutex // held only while loading, once
	loaded atomic.Bool

	mu     sync.RWMutex
	byName map[string]*hostEntry

	flushed  atomic.Int64 // unix ns when the last_seen times were last taken for writing
	flushing atomic.Bool  // a batch of them is being written beside the requests
}

// hostEntry is one host: what it registered, and when it was last seen and last stored so.
type hostEntry struct {
	h       api.Host     // LastSeen as registered; seen is newer
	seen    atomic.Int64 // unix ns
	written atomic.Int64 // unix ns of the last_seen the store holds
}

// host answers the host with its last_seen.
func (e *hostEntry) host() api.Host {
	h := e.h
	if ns := e.seen.Load(); ns > h.LastSeen.UnixNano() {
		h.LastSeen = time.Unix(0, ns).In(h.LastSeen.Location())
	}
	return h
}

// see moves seen on to at; it answers false when it was there already.
func (e *hostEntry) see(at time.Time) bool {
	ns := at.UnixNano()
	for {
		cur := e.seen.Load()
		if ns <= cur {
			return false
		}
		if e.seen.CompareAndSwap(cur, ns) {
			return true
		}
	}
}

func newEntry(h api.Host) *hostEntry {
	e := &hostEntry{h: h}
	if !h.LastSeen.IsZero() {
		e.seen.Store(h.LastSeen.UnixNano())
		e.written.Store(h.LastSeen.UnixNano())
	}
	return e
}

func newHostIndex() *hostIndex {
	return &hostIndex{byName: map[string]*hostEntry{}}
}

// get answers a host; hi.mu is held (read).
// size answers how many hosts the controller knows.
func (hi *hostIndex) size() int {
	hi.mu.RLock()
	defer hi.mu.RUnlock()
	return len(hi.byName)
}

func (hi *hostIndex) get(name string) (api.Host, bool) {
	e, ok := hi.byName[name]
	if !ok {
		return api.Host{}, false
	}
	return e.host(), true
}

// hostsReady loads the hosts from the store on first use.
func (s *Server) hostsReady(ctx context.Context) error {
	hi := s.hosts
	if hi.loaded.Load() {
		return nil
	}
	hi.loadMu.Lock()
	defer hi.loadMu.Unlock()
	if hi.loaded.Load() {
		return nil
	}
	hs, err := s.st.Hosts(ctx)
	if err != nil {
		return fmt.Errorf("load hosts: %w", err)
	}
	hi.mu.Lock()
	for _, h := range hs {
		if cur, ok := hi.byName[h.Name]; !ok || cur.host().LastSeen.Before(h.LastSeen) {
			hi.byName[h.Name] = newEntry(h)
		}
	}
	hi.flushed.Store(s.now().UnixNano())
	hi.loaded.Store(true)
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
	h, ok := s.hosts.get(name)
	return h, ok, nil
}

// allHosts answers every host ordered by name (admin calls and pushes: O(fleet) by nature).
func (s *Server) allHosts(ctx context.Context) ([]api.Host, error) {
	if err := s.hostsReady(ctx); err != nil {
		return nil, err
	}
	s.hosts.mu.RLock()
	hs := make([]api.Host, 0, len(s.hosts.byName))
	for _, e := range s.hosts.byName {
		hs = append(hs, e.host())
	}
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
	m := make(map[string]api.Host, len(s.hosts.byName))
	for n, e := range s.hosts.byName {
		m[n] = e.host()
	}
	return m, nil
}

// putHost stores a registered host and keeps it in memory.
func (s *Server) putHost(ctx context.Context, h api.Host) error {
	if err := s.hostsReady(ctx); err != nil {
		return err
	}
	j := &hostJob{h: h, done: make(chan struct{})}
	s.hostsGC.run(j, func(batch []*hostJob) { s.commitHosts(context.WithoutCancel(ctx), batch) })
	if <-j.done; j.err != nil {
		return j.err
	}
	e := newEntry(h) // the upsert wrote its last_seen
	s.hosts.mu.Lock()
	if cur, ok := s.hosts.byName[h.Name]; ok {
		e.see(time.Unix(0, cur.seen.Load())) // a touch that came meanwhile is kept, to be written
	}
	s.hosts.byName[h.Name] = e
	s.hosts.mu.Unlock()
	s.cluster.host(h)
	return nil
}

// hostJob is one registration waiting for its commit, with the registrations of other hosts.
type hostJob struct {
	h    api.Host
	err  error
	done chan struct{}
}

// commitHosts stores the hosts of a batch of registrations in one transaction: ten thousand
// hosts that register within seconds (a controller restarted) waited for one commit each.
func (s *Server) commitHosts(ctx context.Context, batch []*hostJob) {
	hs := make([]api.Host, len(batch))
	for i, j := range batch {
		hs[i] = j.h
	}
	err := s.st.UpsertHosts(ctx, hs)
	for _, j := range batch {
		if err != nil && len(batch) > 1 {
			j.err = s.st.UpsertHost(ctx, j.h) // one host's failure is not the others'
		} else {
			j.err = err
		}
		close(j.done)
	}
}

// touch records that a host was seen: in memory at once, in the store with the next batch.
// store.ErrNotFound when the host is not registered.
func (s *Server) touch(ctx context.Context, name string, at time.Time) error {
	if err := s.hostsReady(ctx); err != nil {
		return err
	}
	hi := s.hosts
	hi.mu.RLock()
	e, ok := hi.byName[name]
	hi.mu.RUnlock()
	if !ok {
		return fmt.Errorf("touch host %s: %w", name, store.ErrNotFound)
	}
	e.see(at)
	// Written beside the request, one batch at a time: the call that comes due does not wait.
	if at.UnixNano()-hi.flushed.Load() >= int64(seenFlushEvery) && hi.flushing.CompareAndSwap(false, true) {
		s.background.Go(func() {
			defer hi.flushing.Store(false)
			s.flushSeen(context.WithoutCancel(ctx), at)
		})
	}
	return nil
}

// flushSeen writes the last_seen times newer than the stored ones, flushChunk hosts a
// transaction; what a failed write did not store stays newer, for the next try.
func (s *Server) flushSeen(ctx context.Context, now time.Time) {
	hi := s.hosts
	hi.flushed.Store(now.UnixNano())
	type mark struct {
		name string
		e    *hostEntry
		ns   int64
	}
	var marks []mark
	hi.mu.RLock()
	for n, e := range hi.byName {
		if ns := e.seen.Load(); ns > e.written.Load() {
			marks = append(marks, mark{n, e, ns})
		}
	}
	hi.mu.RUnlock()
	for part := range slices.Chunk(marks, flushChunk) {
		s.yieldWrites()
		batch := make(map[string]time.Time, len(part))
		for _, m := range part {
			batch[m.name] = time.Unix(0, m.ns)
		}
		if err := s.st.TouchHosts(context.WithoutCancel(ctx), batch); err != nil {
			s.log.Warn("cannot store last seen times", "hosts", len(batch), "err", err)
			return
		}
		s.cluster.seen(batch)
		for _, m := range part {
			for {
				cur := m.e.written.Load()
				if m.ns <= cur || m.e.written.CompareAndSwap(cur, m.ns) {
					break
				}
			}
		}
	}
}
