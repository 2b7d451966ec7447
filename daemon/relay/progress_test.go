package relay

import (
	"context"
	"dist/daemon/serve"
	"errors"
	"testing"
	"time"
)

// waitAsync starts waitFor(off) and hands back its result.
func waitAsync(p *pulled, off int64) <-chan error {
	ch := make(chan error, 1)
	go func() {
		_, err := p.waitFor(context.Background(), off)
		ch <- err
	}()
	return ch
}

func waitersOf(p *pulled) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.waiting
}

// waitWaiting blocks until n requests wait on p.
func waitWaiting(t *testing.T, p *pulled, n int) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for waitersOf(p) < n {
		p.mu.Lock()
		ch := p.changed
		p.mu.Unlock()
		select {
		case <-ch:
		case <-time.After(time.Millisecond):
		case <-deadline:
			t.Fatalf("%d requests wait, want %d", waitersOf(p), n)
		}
	}
}

func TestPulledServesAfterThreshold(t *testing.T) {
	p := newPulled(100, 1, 2, 0.10, DefaultStartWaiters) // 100 one-byte pieces, serving from 10 bytes on
	p.add(0)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := p.waitFor(ctx, 0); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("served below the threshold: err = %v", err)
	}
	for i := 1; i < 10; i++ {
		p.add(i)
	}
	n, err := p.waitFor(context.Background(), 3)
	if err != nil || n != 7 {
		t.Fatalf("waitFor(3) = %d, %v; want 7 bytes up to the first missing piece", n, err)
	}
}

func TestPulledServesEarlyForSeveralWaiters(t *testing.T) {
	p := newPulled(100, 1, 1, 0.10, DefaultStartWaiters)
	p.add(0)
	first := waitAsync(p, 0)
	waitWaiting(t, p, 1)
	select {
	case err := <-first:
		t.Fatalf("one waiter was served below the threshold (err %v)", err)
	default:
	}
	second := waitAsync(p, 0)
	for _, ch := range []<-chan error{first, second} {
		select {
		case err := <-ch:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("two waiters did not start serving")
		}
	}
}

func TestPulledPicksDemandFirst(t *testing.T) {
	p := newPulled(100, 1, 2, 0.01, DefaultStartWaiters) // 50 chunks of two pieces
	next := p.picker()
	if c, ok := next(); !ok || c != 0 {
		t.Fatalf("first pick = %d, %v; want chunk 0", c, ok)
	}
	w := waitAsync(p, 71) // a request for piece 71: chunk 35
	waitWaiting(t, p, 1)
	if c, ok := next(); !ok || c != 35 {
		t.Fatalf("pick with a waiting request = %d, %v; want chunk 35", c, ok)
	}
	if c, ok := next(); !ok || c != 1 {
		t.Fatalf("pick after the demand = %d, %v; want chunk 1 in order", c, ok)
	}
	p.add(70)
	p.add(71)
	if err := <-w; err != nil {
		t.Fatal(err)
	}
	// Chunks already here or handed out are never picked again.
	p.add(4)
	p.add(5)
	seen := map[int]bool{0: true, 1: true, 35: true}
	for {
		c, ok := next()
		if !ok {
			break
		}
		if seen[c] || c == 2 {
			t.Fatalf("chunk %d picked twice or though present", c)
		}
		seen[c] = true
	}
	if len(seen) != 49 {
		t.Fatalf("%d chunks picked, want 49 (50 less the one present)", len(seen))
	}
}

func TestPulledFailureReachesWaiters(t *testing.T) {
	p := newPulled(100, 1, 1, 0.01, DefaultStartWaiters)
	w := waitAsync(p, 50)
	waitWaiting(t, p, 1)
	p.fail(errors.New("origin gone"))
	if err := <-w; !errors.Is(err, serve.ErrFailed) {
		t.Fatalf("waiter got %v, want the pull failure", err)
	}
}
