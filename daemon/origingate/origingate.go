// Package origingate holds the gates of a host's origin traffic: one controller lease per origin
// and holder stands behind every request a relay's pull or a client's HTTP assist sends to an
// origin. No lease, no origin traffic.
package origingate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"dist/core/api"
	"dist/core/fetch"
	"dist/core/lease"
)

// ErrNoLease is the answer of the closed gate: no lease, no origin traffic.
var ErrNoLease = errors.New("no origin lease")

// Config sets up a host's gates.
type Config struct {
	API    *api.Client // the controller, as this host
	Holder string      // the host's name: the lease holder
	// SeparateRelay gives the relay role a holder of its own (<name>/relay), for a host that is a
	// client too: its client fetches then hold their own lease.
	SeparateRelay bool
	// RelayConns is what a relay's pull keeps in flight.
	RelayConns int
	// AllowUnleased opens the client role's gates without a lease (the host's explicit opt-out);
	// relays always pull under a lease.
	AllowUnleased bool
	Logger        *slog.Logger
}

// Set is one lease.Gate per origin and role, shared by every task of the host: the controller
// hands out one lease per holder and origin.
type Set struct {
	cfg Config

	mu     sync.Mutex
	byKey  map[string]*lease.Gate
	closed bool
}

// New answers the host's gates; nothing is leased before a fetch asks.
func New(cfg Config) *Set {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Set{cfg: cfg, byKey: map[string]*lease.Gate{}}
}

// Client is the gate of a client's HTTP fetches from the origin of source. It fails closed for a
// source that is not an http(s) URL.
func (s *Set) Client(source string) fetch.Gate { return s.gate(source, false) }

// Relay is the gate of a relay's pull from the origin of source.
func (s *Set) Relay(source string) fetch.Gate { return s.gate(source, true) }

func (s *Set) gate(source string, relay bool) fetch.Gate {
	if s.cfg.AllowUnleased && !relay {
		return open{}
	}
	key, err := api.OriginKey(source)
	if err != nil {
		return Closed{Source: source}
	}
	holder, conns := s.cfg.Holder, 0
	if relay {
		conns = s.cfg.RelayConns
		if s.cfg.SeparateRelay {
			holder += "/relay"
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return Closed{Source: source}
	}
	k := key + " " + holder
	if g := s.byKey[k]; g != nil {
		return g
	}
	g := lease.New(lease.Config{
		Controller: s.cfg.API, Origin: key, Holder: holder, Relay: relay, Conns: conns,
		Logger: s.cfg.Logger.With("part", "origin-lease"),
	})
	s.byKey[k] = g
	return g
}

// States describes the host's gates: leased, waiting for origin quota, or idle.
func (s *Set) States() []lease.State {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]lease.State, 0, len(s.byKey))
	for _, g := range s.byKey {
		out = append(out, g.State())
	}
	return out
}

// Close releases every origin lease: the daemon stops.
func (s *Set) Close() {
	s.mu.Lock()
	s.closed = true
	all := s.byKey
	s.byKey = nil
	s.mu.Unlock()
	for _, g := range all {
		if err := g.Close(); err != nil {
			s.cfg.Logger.Debug("origin lease not released", "err", err)
		}
	}
}

// Closed is the gate of a source no lease can cover.
type Closed struct{ Source string }

func (g Closed) Conn(context.Context) (func(), error) {
	return nil, fmt.Errorf("origin %s: %w", g.Source, ErrNoLease)
}

func (g Closed) Wait(context.Context, int) error {
	return fmt.Errorf("origin %s: %w", g.Source, ErrNoLease)
}

type open struct{}

func (open) Conn(context.Context) (func(), error) { return func() {}, nil }
func (open) Wait(context.Context, int) error      { return nil }
