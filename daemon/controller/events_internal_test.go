package controller

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"dist/core/store"
)

// gateStore holds its first AddEvents until released, and records the size of every call.
type gateStore struct {
	store.Store
	entered, release chan struct{}
	mu               sync.Mutex
	calls            []int
}

func (g *gateStore) AddEvents(ctx context.Context, es []store.Event) error {
	g.mu.Lock()
	g.calls = append(g.calls, len(es))
	first := len(g.calls) == 1
	g.mu.Unlock()
	if first {
		close(g.entered)
		<-g.release
	}
	return g.Store.AddEvents(ctx, es)
}

// Events of concurrent requests share a transaction: those that come while one is written go
// together in the next, and every request answers only once its own event is stored.
func TestEventsOfConcurrentRequestsShareACommit(t *testing.T) {
	t.Parallel()
	sq, err := store.Open(filepath.Join(t.TempDir(), "controller.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sq.Close() })
	g := &gateStore{Store: sq, entered: make(chan struct{}), release: make(chan struct{})}
	s := New(g, Options{})
	ctx := context.Background()
	const n = 50
	var wg sync.WaitGroup
	wg.Go(func() { s.event(ctx, store.Event{DistID: "d1", Kind: "mode", Msg: "first"}) })
	<-g.entered
	for i := range n - 1 {
		wg.Go(func() { s.event(ctx, store.Event{DistID: "d1", Kind: "mode", Msg: fmt.Sprint("next ", i)}) })
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.eventsGC.mu.Lock()
		queued := len(s.eventsGC.queue)
		s.eventsGC.mu.Unlock()
		if queued == n-1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d events queued after 10 s", queued, n-1)
		}
		time.Sleep(time.Millisecond)
	}
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
