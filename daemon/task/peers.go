package task

import (
	"context"
	"strings"
	"sync"
	"time"

	"dist/core/api"
)

const (
	// PeersFirst and PeersEvery pace the task's questions to the controller's tracker: often at
	// first, when the swarm forms, then every few seconds; a watch answer (the controller wakes
	// watches when a swarm gains members) asks at once.
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

// follow asks the tracker until ctx ends.
func (p *Peers) follow(ctx context.Context) {
	wait := PeersFirst
	for {
		pctx, cancel := context.WithTimeout(ctx, peersTimeout)
		list, err := p.t.env.API.Peers(pctx, p.t.spec.DistID, p.t.env.Name)
		cancel()
		if err == nil {
			p.set(list)
		} else if ctx.Err() == nil {
			p.t.log.Debug("peers not asked", "err", err)
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-p.kickc:
		case <-timer.C:
		}
		timer.Stop()
		wait = min(wait*2, PeersEvery)
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
