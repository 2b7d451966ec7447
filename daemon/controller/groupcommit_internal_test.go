package controller

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"dist/core/api"
	"dist/core/store"
)

// gateStore holds its first AddEvents (and its first UpsertHosts) until released, and records
// the size of every call.
type gateStore struct {
	store.Store
	entered, release chan struct{}
	mu               sync.Mutex
	calls            []int
}

func (g *gateStore) gate(n int) {
	g.mu.Lock()
	g.calls = append(g.calls, n)
	first := len(g.calls) == 1
	g.mu.Unlock()
	if first {
		close(g.entered)
		<-g.release
	}
}

func (g *gateStore) AddEvents(ctx context.Context, es []store.Event) error {
	g.gate(len(es))
	return g.Store.AddEvents(ctx, es)
}

func (g *gateStore) UpsertHosts(ctx context.Context, hs []api.Host) error {
	g.gate(len(hs))
	return g.Store.UpsertHosts(ctx, hs)
}

// gatedServer answers a controller on a gated SQLite store, the gate, and the store.
func gatedServer(t *testing.T) (*Server, *gateStore, *store.SQLite) {
	t.Helper()
	sq, err := store.Open(filepath.Join(t.TempDir(), "controller.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sq.Close() })
	g := &gateStore{Store: sq, entered: make(chan struct{}), release: make(chan struct{})}
	return New(g, Options{}), g, sq
}

// waitQueued waits until n jobs wait in g's queue, 10 s at most.
func waitQueued[J any](t *testing.T, g *groupCommit[J], n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		g.mu.Lock()
		queued := len(g.queue)
		g.mu.Unlock()
		if queued == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d jobs queued after 10 s", queued, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// Events of concurrent requests share a transaction: those that come while one is written go
// together in the next, and every request answers only once its own event is stored.
func TestEventsOfConcurrentRequestsShareACommit(t *testing.T) {
	t.Parallel()
	s, g, sq := gatedServer(t)
	ctx := context.Background()
	const n = 50
	var wg sync.WaitGroup
	wg.Go(func() { s.event(ctx, store.Event{DistID: "d1", Kind: "mode", Msg: "first"}) })
	<-g.entered
	for i := range n - 1 {
		wg.Go(func() { s.event(ctx, store.Event{DistID: "d1", Kind: "mode", Msg: fmt.Sprint("next ", i)}) })
	}
	waitQueued(t, &s.eventsGC, n-1)
	close(g.release)
	wg.Wait()
	g.mu.Lock()
	calls := fmt.Sprint(g.calls)
	g.mu.Unlock()
	if want := fmt.Sprint([]int{1, n - 1}); calls != want {
		t.Errorf("AddEvents calls carried %s events, want %s", calls, want)
	}
	es, err := sq.Events(ctx, "d1", 0)
	if err != nil || len(es) != n {
		t.Errorf("%d events stored (%v), want %d", len(es), err, n)
	}
}

// Hosts that register together are stored together: the registrations that come while one is
// written go in the next transaction, and each host is known once its registration answers.
func TestRegistrationsShareACommit(t *testing.T) {
	t.Parallel()
	s, g, sq := gatedServer(t)
	ctx := context.Background()
	const n = 50
	errs := make(chan error, n)
	var wg sync.WaitGroup
	wg.Go(func() { errs <- s.putHost(ctx, api.Host{Name: "h0", LastSeen: time.Now()}) })
	<-g.entered
	for i := 1; i < n; i++ {
		wg.Go(func() { errs <- s.putHost(ctx, api.Host{Name: fmt.Sprintf("h%d", i), LastSeen: time.Now()}) })
	}
	waitQueued(t, &s.hostsGC, n-1)
	close(g.release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("registration: %v", err)
		}
	}
	g.mu.Lock()
	calls := fmt.Sprint(g.calls)
	g.mu.Unlock()
	if want := fmt.Sprint([]int{1, n - 1}); calls != want {
		t.Errorf("UpsertHosts calls carried %s hosts, want %s", calls, want)
	}
	for i := range n {
		name := fmt.Sprintf("h%d", i)
		if _, err := sq.Host(ctx, name); err != nil {
			t.Errorf("host %s stored: %v", name, err)
		}
		if _, ok := s.hosts.get(name); !ok {
			t.Errorf("host %s not in memory", name)
		}
	}
}

// A background write waits for the commits under way, and no longer than it is told to.
func TestWaitIdleWaitsForTheWritesUnderWay(t *testing.T) {
	t.Parallel()
	var g groupCommit[int]
	g.waitIdle(time.Hour) // nothing under way: at once
	entered, release := make(chan struct{}), make(chan struct{})
	done := make(chan struct{})
	go func() {
		g.run(1, func([]int) { close(entered); <-release })
		close(done)
	}()
	<-entered
	start := time.Now()
	g.waitIdle(10 * time.Millisecond) // still under way: bounded
	if took := time.Since(start); took < 10*time.Millisecond {
		t.Fatalf("waitIdle returned after %s with a write under way, want 10ms", took)
	}
	waited := make(chan struct{})
	go func() { g.waitIdle(time.Hour); close(waited) }()
	close(release)
	<-done
	select {
	case <-waited:
	case <-time.After(10 * time.Second):
		t.Fatal("waitIdle still waits 10 s after the write ended")
	}
}
