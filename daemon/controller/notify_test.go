package controller

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

// A change to a few hosts releases their held watches before wakeHosts returns; a change to
// thousands moves every version at once and releases the watches a batch at a time, all of them
// within a bounded time even when nobody answers.
func TestWakeReleasesHeldWatchesInBatches(t *testing.T) {
	t.Parallel()
	for _, n := range []int{1, releaseBatch, 10 * releaseBatch} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			t.Parallel()
			b := newNotifier()
			b.wait = 20 * time.Millisecond
			names := make([]string, n)
			before := make([]string, n)
			chs := make([]<-chan struct{}, n)
			for i := range names {
				names[i] = fmt.Sprintf("h%d", i)
				var g *wakeGen
				before[i], _, g = b.version(names[i])
				g.held.Add(1) // held, and nobody will answer
				chs[i] = g.ch
			}
			b.wakeHostsLocal(names)
			for i, name := range names {
				if v, _, _ := b.version(name); v == before[i] {
					t.Fatalf("host %s still has version %s after the change", name, v)
				}
			}
			if n <= releaseBatch {
				for i, ch := range chs {
					select {
					case <-ch:
					default:
						t.Fatalf("watch %d of %d is still held after wakeHosts returned", i, n)
					}
				}
				return
			}
			// Nobody answers: each batch waits b.wait at most.
			bound := time.Duration(n/releaseBatch+1)*b.wait + 10*time.Second
			timeout := time.After(bound)
			for i, ch := range chs {
				select {
				case <-ch:
				case <-timeout:
					t.Fatalf("watch %d of %d still held after %s", i, n, bound)
				}
			}
		})
	}
}

// Released watches that answer let the next batch go without waiting out releaseWait.
func TestAnsweredWatchesReleaseTheNextBatch(t *testing.T) {
	t.Parallel()
	b := newNotifier()
	b.wait = time.Second
	const n = 40 * releaseBatch // without answers: 40 × b.wait
	names, chs := answeringWatches(b, n)
	start := time.Now()
	b.wakeHostsLocal(names)
	timeout := time.After(10 * time.Second)
	for i, ch := range chs {
		select {
		case <-ch:
		case <-timeout:
			t.Fatalf("watch %d of %d still held after 10 s", i, n)
		}
	}
	if took := time.Since(start); took >= 40*b.wait {
		t.Errorf("answered batches took %s to release, as long as unanswered ones (%s)", took, 40*b.wait)
	}
}

// While the calls released watches bring still queue (busy), the next batch waits: the watches of
// a wake-up go no faster than the controller answers their reports and asks.
func TestBusyControllerHoldsTheNextBatch(t *testing.T) {
	t.Parallel()
	b := newNotifier()
	b.wait = time.Minute
	var busy atomic.Bool
	busy.Store(true)
	polled := make(chan struct{}, 1)
	b.busy = func() bool {
		select {
		case polled <- struct{}{}:
		default:
		}
		return busy.Load()
	}
	const n = 2 * releaseBatch
	names, chs := answeringWatches(b, n)
	b.wakeHostsLocal(names)
	timeout := time.After(10 * time.Second)
	for i, ch := range chs[:releaseBatch] {
		select {
		case <-ch:
		case <-timeout:
			t.Fatalf("watch %d of the first batch still held after 10 s", i)
		}
	}
	for range 3 { // the releaser looks at busy again and again: it waits
		select {
		case <-polled:
		case <-timeout:
			t.Fatal("the releaser never asked whether the controller is busy")
		}
	}
	for i, ch := range chs[releaseBatch:] {
		select {
		case <-ch:
			t.Fatalf("watch %d of the second batch released while the controller is busy", i)
		default:
		}
	}
	busy.Store(false)
	for i, ch := range chs[releaseBatch:] {
		select {
		case <-ch:
		case <-timeout:
			t.Fatalf("watch %d of the second batch still held after the controller was no longer busy", i)
		}
	}
}

// answeringWatches holds a watch of each of n hosts on b, each answered as soon as it is
// released; it answers the hosts' names and the watches' channels.
func answeringWatches(b *notifier, n int) ([]string, []<-chan struct{}) {
	names := make([]string, n)
	chs := make([]<-chan struct{}, n)
	for i := range names {
		names[i] = fmt.Sprintf("h%d", i)
		_, _, g := b.version(names[i])
		g.held.Add(1)
		chs[i] = g.ch
	}
	for _, ch := range chs {
		go func() {
			<-ch
			b.answered()
		}()
	}
	return names, chs
}
