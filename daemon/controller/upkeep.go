package controller

import (
	"context"
	"sync"
	"time"

	"dist/core/api"
)

// upkeepEvery is how often Run looks over the distributions.
const upkeepEvery = 15 * time.Second

// Run does the background upkeep until ctx is done:
//
//   - it re-derives the state of every pending or active distribution, repairing one whose
//     assignments were stored by a report whose state update never happened (a crash in between);
//   - it wakes the watches when a finished distribution passes Keep, because from then on it drops
//     out of its hosts' task lists (they stop seeding) without any request changing anything.
//
// When ctx ends, held watches are released so that a shutting-down server is not kept waiting.
func (s *Server) Run(ctx context.Context) {
	defer s.notify.wakeLocal()
	if s.cluster != nil {
		cctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		var wg sync.WaitGroup
		s.clusterRun(cctx, &wg)
		// Stopped after the last flushes below (deferred first, runs last), which it still sends.
		defer wg.Wait()
		defer cancel()
	}
	// The last_seen times still in memory are written on the way out.
	defer s.flushSeen(context.WithoutCancel(ctx), s.now())
	defer s.flushProgress(context.WithoutCancel(ctx))
	defer s.background.Wait()
	var last time.Time // zero: the first pass also releases whatever expired while we were down
	t := time.NewTicker(upkeepEvery)
	defer t.Stop()
	for {
		last = s.upkeep(ctx, last)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// upkeep makes one pass and answers the time it covered up to.
func (s *Server) upkeep(ctx context.Context, since time.Time) time.Time {
	now := s.now()
	s.flushSeen(ctx, now)
	s.flushProgress(ctx)
	ds, err := s.st.DistributionHeads(ctx) // states only: the counters are the views'
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("upkeep: cannot list distributions", "err", err)
		}
		return since
	}
	// Deadlines and lost relays first (lifecycle.go): what they change, the pass below derives.
	wake := false
	if s.runsLifecycle() {
		wake = s.lifecycle(ctx, now)
	}
	for _, d := range ds {
		switch d.State {
		case api.DistPending, api.DistActive:
			moved, err := s.recompute(ctx, d.ID)
			if err != nil {
				if ctx.Err() == nil {
					s.log.Warn("upkeep: cannot recompute state", "id", d.ID, "err", err)
				}
				continue
			}
			wake = wake || moved
		case api.DistComplete, api.DistPartial:
			if d.EndedAt.IsZero() {
				continue
			}
			if exp := d.EndedAt.Add(s.o.Keep); exp.After(since) && !exp.After(now) {
				wake = true
			}
		}
	}
	if wake {
		s.notify.wake()
	}
	return now
}
