package tui

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"dist/core/api"
)

// Source fills snapshots; the dashboard calls it from Bubble Tea commands, one call at a time.
type Source interface {
	// Fetch answers the current state; swarm names the distribution whose hosts to load ("" none).
	Fetch(ctx context.Context, swarm string) (Snapshot, error)
	// Cancel cancels a distribution on every host.
	Cancel(ctx context.Context, id string) error
}

// eventRows is how many recent events a refresh asks for: more than a screen shows.
const eventRows = 50

// Controller reads the controller API with an admin token.
type Controller struct {
	c   *api.Client
	f   *filler
	now func() time.Time
}

// NewController returns a Source over the controller API client c.
func NewController(c *api.Client) *Controller {
	return &Controller{c: c, f: newFiller(), now: time.Now}
}

// Fetch implements Source.
func (s *Controller) Fetch(ctx context.Context, swarm string) (Snapshot, error) {
	ds, err := s.c.Distributions(ctx)
	if err != nil {
		return Snapshot{}, fmt.Errorf("list distributions: %w", err)
	}
	now := s.now()
	snap := Snapshot{At: now, Controller: s.c.Base, Dists: make([]Dist, 0, len(ds))}
	defer s.f.r.sweep()
	// The origins first: a distribution that does not move may be waiting for its origin.
	origins, known, err := s.origins(ctx)
	if err != nil {
		return Snapshot{}, err
	}
	snap.Limits, snap.LimitsKnown = limitsOf(origins), known && len(origins) > 0
	s.f.measure(snap.Limits, origins, now)
	for _, d := range ds {
		if d.ID == swarm {
			continue // filled below from the detailed answer, so its rate is counted once
		}
		v := s.f.dist(d, now)
		v.Reason = DistStall(d, origins, v.Rate > 0, now)
		snap.Dists = append(snap.Dists, v)
	}
	if swarm != "" {
		d, err := s.c.Distribution(ctx, swarm)
		if err != nil {
			return Snapshot{}, fmt.Errorf("read distribution %s: %w", swarm, err)
		}
		snap.Swarm = s.f.swarm(d, now)
		if snap.Swarm.Dist.Reason == "" {
			snap.Swarm.Dist.Reason = DistStall(d, origins, snap.Swarm.Dist.Rate > 0, now)
		}
		// Keep the list in the controller's order with the detailed line in its place.
		for i, x := range ds {
			if x.ID == swarm {
				snap.Dists = append(snap.Dists[:i], append([]Dist{snap.Swarm.Dist}, snap.Dists[i:]...)...)
				break
			}
		}
		var evs []apiEvent
		if err := s.c.Do(ctx, http.MethodGet, "/v1/events?"+url.Values{"dist": {swarm}, "limit": {"20"}}.Encode(), nil, &evs); err == nil {
			snap.Swarm.Events = events(evs)
		}
	}
	hs, err := s.c.Hosts(ctx)
	if err != nil {
		return Snapshot{}, fmt.Errorf("list hosts: %w", err)
	}
	snap.Hosts = len(hs)
	for _, h := range hs {
		if h.Online {
			snap.HostsOnline++
		}
	}
	var evs []apiEvent
	if err := s.c.Do(ctx, http.MethodGet, fmt.Sprintf("/v1/events?limit=%d", eventRows), nil, &evs); err != nil && !notFound(err) {
		return Snapshot{}, fmt.Errorf("list events: %w", err)
	}
	snap.Events = events(evs)
	return arrays(snap), nil
}

// arrays turns nil lists into empty ones: scripts reading --json get [] rather than null.
func arrays(s Snapshot) Snapshot {
	if s.Dists == nil {
		s.Dists = []Dist{}
	}
	if s.Limits == nil {
		s.Limits = []Limit{}
	}
	if s.Events == nil {
		s.Events = []Event{}
	}
	if s.Local != nil && s.Local.Tasks == nil {
		s.Local.Tasks = []Host{}
	}
	return s
}

// origins reads GET /v1/origins; a controller without the route answers 404, which is shown as
// "no origin limits set".
func (s *Controller) origins(ctx context.Context) ([]api.OriginStatus, bool, error) {
	os, err := s.c.Origins(ctx, "")
	if notFound(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read origin limits: %w", err)
	}
	return os, true, nil
}

// Cancel implements Source.
func (s *Controller) Cancel(ctx context.Context, id string) error {
	_, err := s.c.CancelDistribution(ctx, id)
	return err
}

// LocalSource reads the local daemon over its LocalAPI.
type LocalSource struct {
	c   *api.Client
	f   *filler
	now func() time.Time
}

// NewLocal returns a Source over a LocalAPI client.
func NewLocal(c *api.Client) *LocalSource {
	return &LocalSource{c: c, f: newFiller(), now: time.Now}
}

// Fetch implements Source; swarm is ignored: the local daemon has one swarm per task.
func (s *LocalSource) Fetch(ctx context.Context, _ string) (Snapshot, error) {
	st, err := s.c.Status(ctx)
	if err != nil {
		return Snapshot{}, fmt.Errorf("local daemon status: %w", err)
	}
	now := s.now()
	defer s.f.r.sweep()
	return arrays(Snapshot{At: now, Local: s.f.local(st, now)}), nil
}

// Cancel implements Source: cancelling is the controller's business.
func (s *LocalSource) Cancel(context.Context, string) error {
	return errors.New("cancel from the controller view: dist top without --host")
}

// notFound reports whether the server answered 404: a route an older controller does not have.
func notFound(err error) bool {
	var se *api.StatusError
	return errors.As(err, &se) && se.Status == http.StatusNotFound
}
