package lease

import (
	"context"
	"time"

	"golang.org/x/time/rate"

	"dist/core/api"
)

// unreachableRetry is how soon a holder asks again when the controller did not answer.
const unreachableRetry = time.Second

// keep runs while someone wants the origin: it acquires the lease, renews it at half its life
// (draining first), and releases it once unused. It returns when the Gate is closed or idle.
func (g *Gate) keep() {
	for {
		g.mu.Lock()
		if g.closed {
			g.running = false
			g.mu.Unlock()
			return
		}
		if g.lease == nil {
			if g.waiting == 0 && g.inflight == 0 {
				g.running = false
				g.setPhase(PhaseIdle, "")
				g.mu.Unlock()
				return
			}
			pause := time.Until(g.retryAt)
			g.mu.Unlock()
			if pause > 0 && !g.sleep(pause) {
				return
			}
			if !g.sleep(g.acquire()) {
				return
			}
			continue
		}
		now := time.Now()
		renewAt := g.askedAt.Add(g.ttl / 2)
		if g.wantRenew || !now.Before(renewAt) {
			if g.inflight == 0 && g.waiting == 0 && now.Sub(g.lastBusy) >= g.cfg.Idle {
				g.mu.Unlock()
				g.release()
				continue
			}
			g.drain()
			g.mu.Unlock()
			g.renew()
			continue
		}
		ch := g.changed
		g.mu.Unlock()
		t := time.NewTimer(renewAt.Sub(now))
		select {
		case <-g.stop:
		case <-ch:
		case <-t.C:
		}
		t.Stop()
	}
}

// sleep waits d or until the Gate closes; false when it closed.
func (g *Gate) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-g.stop:
		return false
	case <-t.C:
		return true
	}
}

// drain stops admitting and waits until no request is in flight, cancelling those still running a
// quarter of a lease period before it expires; g.mu is held (and released while waiting).
func (g *Gate) drain() {
	g.draining = true
	g.signal()
	deadline := g.validUntil.Add(-g.ttl / 4)
	cancelled := false
	for g.inflight-g.parked > 0 && !g.closed {
		now := time.Now()
		if !cancelled && !now.Before(deadline) {
			// Requests that would outlive the lease must not run on without it.
			for _, cancel := range g.slots {
				cancel()
			}
			cancelled = true
			g.log.Warn("origin requests outlived their lease period: cancelled", "in_flight", g.inflight-g.parked)
		}
		wait := time.Until(deadline)
		if cancelled {
			wait = 50 * time.Millisecond
		}
		ch := g.changed
		g.mu.Unlock()
		t := time.NewTimer(max(wait, time.Millisecond))
		select {
		case <-ch:
		case <-t.C:
		case <-g.stop:
		}
		t.Stop()
		g.mu.Lock()
	}
}

// request is what the Gate asks the controller for.
func (g *Gate) request() api.LeaseRequest {
	return api.LeaseRequest{Origin: g.cfg.Origin, Holder: g.cfg.Holder, Relay: g.cfg.Relay, Conns: g.cfg.Conns,
		Bandwidth: g.cfg.Bandwidth, Priority: g.cfg.Priority, History: g.cfg.History}
}

// acquire asks for a lease once and answers how long to wait before the next step.
func (g *Gate) acquire() time.Duration {
	asked := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	ans, err := g.cfg.Controller.AcquireLease(ctx, g.request())
	cancel()
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		if err == nil && ans.Granted {
			go g.releaseID(ans.Lease.ID, 0)
		}
		return 0
	}
	switch {
	case err != nil:
		g.setPhase(PhaseUnreachable, err.Error())
		return unreachableRetry
	case !ans.Granted:
		g.setPhase(PhaseWaiting, ans.Reason)
		return retryOf(ans)
	}
	g.install(ans, asked, true)
	return 0
}

// renew reports the lease's use and takes the new grant; called drained, without g.mu.
func (g *Gate) renew() {
	g.mu.Lock()
	id, used, until := g.lease.ID, g.used-g.pending, g.validUntil
	fb := g.fb
	if g.latN > 0 {
		fb.LatencyMs = max(1, (g.latSum / time.Duration(g.latN)).Milliseconds())
	}
	g.fb, g.latSum, g.latN = api.OriginFeedback{}, 0, 0
	g.mu.Unlock()

	var (
		ans      api.LeaseAnswer
		err      error
		asked    time.Time
		answered bool
	)
	for {
		asked = time.Now()
		if !asked.Before(until) {
			break
		}
		ctx, cancel := context.WithDeadline(context.Background(), until)
		ans, err = g.cfg.Controller.RenewLease(ctx, id, api.LeaseRenew{Used: used, Feedback: fb})
		cancel()
		if err == nil {
			answered = true
			break
		}
		if !g.sleep(min(200*time.Millisecond, time.Until(until))) {
			break
		}
	}

	g.mu.Lock()
	defer g.mu.Unlock()
	g.draining, g.wantRenew = false, false
	defer g.signal()
	if g.closed {
		return
	}
	switch {
	case !answered:
		// The lease ran out before the controller answered: fail closed until a new one.
		g.drop()
		reason := "origin lease expired unrenewed"
		if err != nil {
			reason = err.Error()
		}
		g.setPhase(PhaseUnreachable, reason)
	case !ans.Granted:
		g.drop()
		g.setPhase(PhaseWaiting, ans.Reason)
		if !ans.Lost {
			g.retryAt = time.Now().Add(retryOf(ans))
		}
	default:
		g.install(ans, asked, false)
	}
}

// drop forgets the lease; g.mu is held.
func (g *Gate) drop() {
	g.gen++
	g.lease, g.left, g.used, g.pending, g.limiter = nil, 0, 0, 0, nil
}

// install takes a grant asked for at asked; fresh is a new lease rather than a renewal. g.mu is held.
func (g *Gate) install(ans api.LeaseAnswer, asked time.Time, fresh bool) {
	l := ans.Lease
	g.gen++
	g.ttl = time.Duration(ans.TTLMs) * time.Millisecond
	g.lease, g.askedAt, g.validUntil = &l, asked, asked.Add(g.ttl)
	// Bytes charged to callers still waiting for tokens lapse: they charge this grant when through.
	g.used, g.pending = 0, 0
	g.left = l.Bytes
	if l.Bytes < 0 {
		g.left = -1
	}
	size := int64(maxRequest)
	if l.Rate > 0 {
		perConn := float64(l.Rate) / float64(max(l.Conns, 1))
		size = min(max(int64(perConn*g.ttl.Seconds()/16), minRequest), maxRequest)
	}
	if l.Bytes > 0 {
		size = min(size, l.Bytes)
	}
	g.reqSize = max(size, 1)
	if l.Rate > 0 {
		burst := int(g.reqSize)
		if fresh || g.limiter == nil {
			// Start empty: a new holder must not add a burst on top of everyone's rate.
			g.limiter = rate.NewLimiter(rate.Limit(l.Rate), burst)
			g.limiter.AllowN(time.Now(), burst)
		} else {
			g.limiter.SetLimit(rate.Limit(l.Rate))
			g.limiter.SetBurst(burst)
		}
	} else {
		g.limiter = nil
	}
	if fresh {
		g.lastBusy = time.Now()
	}
	g.setPhase(PhaseLeased, ans.Reason)
	g.signal()
}

// release gives the lease back, unused.
func (g *Gate) release() {
	g.mu.Lock()
	l, used := g.lease, g.used
	g.drop()
	g.setPhase(PhaseIdle, "")
	g.signal()
	g.mu.Unlock()
	if l != nil {
		g.releaseID(l.ID, used)
	}
}

func (g *Gate) releaseID(id string, used int64) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := g.cfg.Controller.ReleaseLease(ctx, id, used); err != nil {
		g.log.Debug("origin lease not released; it expires by itself", "lease", id, "err", err)
	}
}

// setPhase records what the Gate does and logs changes; g.mu is held.
func (g *Gate) setPhase(phase, reason string) {
	if phase == g.phase && reason == g.reason {
		return
	}
	g.phase, g.reason = phase, reason
	switch phase {
	case PhaseWaiting, PhaseUnreachable:
		g.log.Info(phase, "reason", reason)
	default:
		g.log.Debug("origin lease", "phase", phase, "reason", reason)
	}
}

func retryOf(ans api.LeaseAnswer) time.Duration {
	if ans.RetryMs > 0 {
		return time.Duration(ans.RetryMs) * time.Millisecond
	}
	return time.Second
}
