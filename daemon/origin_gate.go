package daemon

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"dist/core/api"
	"dist/core/fetch"
	"dist/core/lease"
)

// errNoOriginLease is the answer of the closed gate: no lease, no origin traffic.
var errNoOriginLease = errors.New("no origin lease")

// originGate is the gate of a client's HTTP fetches from the origin of source: a controller lease
// stands behind every request. It fails closed for a source that is not an http(s) URL, and is open
// only when the host's configuration explicitly allows unleased origin fetches by clients.
func (d *Daemon) originGate(source string) fetch.Gate { return d.leaseGate(source, false) }

// relayGate is the gate of a relay's pull from the origin of source.
func (d *Daemon) relayGate(source string) fetch.Gate { return d.leaseGate(source, true) }

// originGates holds one lease.Gate per origin and role, shared by every task of the host: the
// controller hands out one lease per holder and origin.
type originGates struct {
	mu     sync.Mutex
	byKey  map[string]*lease.Gate
	closed bool
}

func (d *Daemon) leaseGate(source string, relay bool) fetch.Gate {
	if d.cfg.AllowUnleasedOrigin && !relay {
		return openGate{} // the client role's explicit opt-out; relays always pull under a lease
	}
	key, err := api.OriginKey(source)
	if err != nil {
		return closedGate{source: source}
	}
	holder, conns := d.cfg.Name, 0
	if relay {
		conns = relayWorkers // what a relay's pull keeps in flight
		if d.cfg.has(api.RoleClient) {
			holder += "/relay" // the same host's client fetches hold their own lease
		}
	}
	gs := &d.gates
	gs.mu.Lock()
	defer gs.mu.Unlock()
	if gs.closed {
		return closedGate{source: source}
	}
	if gs.byKey == nil {
		gs.byKey = map[string]*lease.Gate{}
	}
	k := key + " " + holder
	if g := gs.byKey[k]; g != nil {
		return g
	}
	g := lease.New(lease.Config{
		Controller: d.api, Origin: key, Holder: holder, Relay: relay, Conns: conns,
		Logger: d.log.With("part", "origin-lease"),
	})
	gs.byKey[k] = g
	return g
}

// OriginStates describes the host's origin gates: leased, waiting for origin quota, or idle.
func (d *Daemon) OriginStates() []lease.State {
	gs := &d.gates
	gs.mu.Lock()
	defer gs.mu.Unlock()
	out := make([]lease.State, 0, len(gs.byKey))
	for _, g := range gs.byKey {
		out = append(out, g.State())
	}
	return out
}

// closeGates releases every origin lease; the daemon stops.
func (d *Daemon) closeGates() {
	gs := &d.gates
	gs.mu.Lock()
	gs.closed = true
	all := gs.byKey
	gs.byKey = nil
	gs.mu.Unlock()
	for _, g := range all {
		if err := g.Close(); err != nil {
			d.log.Debug("origin lease not released", "err", err)
		}
	}
}

type closedGate struct{ source string }

func (g closedGate) Conn(context.Context) (func(), error) {
	return nil, fmt.Errorf("origin %s: %w", g.source, errNoOriginLease)
}

func (g closedGate) Wait(context.Context, int) error {
	return fmt.Errorf("origin %s: %w", g.source, errNoOriginLease)
}

type openGate struct{}

func (openGate) Conn(context.Context) (func(), error) { return func() {}, nil }
func (openGate) Wait(context.Context, int) error      { return nil }
