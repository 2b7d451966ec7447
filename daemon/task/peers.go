package task

import (
	"context"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"dist/core/api"
	"dist/core/retry"
)

const (
	// PeersFirst and PeersEvery pace the task's questions to the controller's tracker: often at
	// first, when the swarm forms, then every few seconds (or the longer interval the controller
	// gives a big fleet); the metainfo arriving asks at once.
	PeersFirst = 300 * time.Millisecond
	PeersEvery = 5 * time.Second
	// peersTimeout bounds one question.
	peersTimeout = 10 * time.Second
)

// Peers is a task's one view of the swarm: the members the controller's tracker lists for its
// distribution (complete peers first, then relays, then the rest), asked by one loop per task.
// The torrent gets every new list; the relay's upstream, the client's early stream and the HTTP
// assist read it here.
type Peers struct {
	t     *Task
	kickc chan struct{}

	mu      sync.Mutex
	list    []api.Peer
	known   bool
	changed chan struct{} // closed and replaced at every answer
}

func newPeers(t *Task) *Peers {
	return &Peers{t: t, kickc: make(chan struct{}, 1), changed: make(chan struct{})}
}

func (p *Peers) kick() {
	select {
	case p.kickc <- struct{}{}:
	default:
	}
}

// FirstPeersAsk is how long a task waits before its first question to the tracker when the
// controller's interval is every: at once in a fleet of up to a few thousand hosts; in a bigger
// one a random moment within a tenth of the interval, so that a push's thousands of new tasks
// do not all ask in the same millisecond.
func FirstPeersAsk(every time.Duration) time.Duration {
	if every <= PeersEvery {
		return 0
	}
	return rand.N(every / 10)
}

// KickedPeersAsk is the wait before the ask a task makes when its metainfo came, in a fleet whose
// interval is every: at once in a small fleet; in a bigger one a random moment within a quarter
// of the interval, about a thousand asks a second whatever its size. The metainfo comes to the
// whole fleet at once, and spread as the first asks (a tenth), 10,000 simulated hosts asked
// 2,500 times a second into 429s. The task already holds the relays and peers of its earlier
// answers meanwhile.
func KickedPeersAsk(every time.Duration) time.Duration {
	if every <= PeersEvery {
		return 0
	}
	return rand.N(every / 4)
}

// NextPeersAsk is the wait after one of prev: doubling from PeersFirst up to every; in a big fleet
// (an interval longer than PeersEvery) doubling from a quarter of the interval, each wait spread
// by ±25 %: thousands of tasks that start together would otherwise ask five times in their first
// seconds, all at once.
func NextPeersAsk(prev, every time.Duration) time.Duration {
	if every <= PeersEvery {
		return min(max(prev*2, PeersFirst), every)
	}
	w := min(max(prev*2, PeersFirst, every/4), every)
	return w*3/4 + rand.N(w/2+1)
}

// follow asks the tracker until ctx ends.
func (p *Peers) follow(ctx context.Context) {
	if d := FirstPeersAsk(p.t.env.peersEvery()); d > 0 {
		timer := time.NewTimer(d)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-p.kickc:
		case <-timer.C:
		}
		timer.Stop()
	}
	wait := time.Duration(0)
	for {
		pctx, cancel := context.WithTimeout(ctx, peersTimeout)
		list, err := p.t.env.API.Peers(pctx, p.t.spec.DistID, p.t.env.Name)
		cancel()
		if err == nil {
			p.set(list)
		} else if ctx.Err() == nil {
			p.t.log.Debug("peers not asked", "err", err)
		}
		every := p.t.env.peersEvery()
		wait = NextPeersAsk(wait, every)
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-p.kickc:
			// The metainfo came: to the whole fleet at once, so the asks are spread.
			if d := KickedPeersAsk(every); d > 0 && !retry.Sleep(ctx, d) {
				timer.Stop()
				return
			}
		case <-timer.C:
		}
		timer.Stop()
	}
}

func (p *Peers) set(list []api.Peer) {
	if tor := p.t.Torrent(); tor != nil {
		addrs := make([]string, 0, len(list))
		for _, m := range list {
			if m.BTAddr != "" {
				addrs = append(addrs, m.BTAddr)
			}
		}
		tor.AddPeers(addrs)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.list, p.known = list, true
	close(p.changed)
	p.changed = make(chan struct{})
}

// List answers the latest list (nil before the first answer) and a channel closed at the next
// answer.
func (p *Peers) List() ([]api.Peer, <-chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.list, p.changed
}

// Wait answers the list once the tracker has answered at least once, or ctx's error.
func (p *Peers) Wait(ctx context.Context) ([]api.Peer, error) {
	for {
		p.mu.Lock()
		list, known, ch := p.list, p.known, p.changed
		p.mu.Unlock()
		if known {
			return list, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// ContentURL is where peer m serves the task's distribution over HTTP.
func (p *Peers) ContentURL(m api.Peer) string {
	return strings.TrimRight(m.HTTPURL, "/") + api.ContentPath(p.t.spec.DistID)
}
