package daemon

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"dist/core/api"
)

// Version of the daemon, reported to the controller; set by the CLI.
var Version = "dev"

// agent keeps the host registered, follows its watch stream and reports progress.
func (d *Daemon) agent(ctx context.Context) {
	d.goRun(func() { d.reportLoop(ctx) })
	version := ""
	registered := false
	failures := 0
	for ctx.Err() == nil {
		if !registered {
			err := d.api.Register(ctx, api.Host{
				Name: d.cfg.Name, Labels: d.cfg.Labels, Roles: d.cfg.Roles,
				HTTPURL: d.httpURL, BTAddr: d.btAddr(), Version: Version,
			})
			if err != nil {
				failures++
				d.logRetry("register with controller", err, failures)
				if !sleepCtx(ctx, backoff(failures)) {
					return
				}
				continue
			}
			registered = true
			d.log.Info("registered with controller", "controller", d.cfg.Controller)
		}
		w, err := d.api.Watch(ctx, d.cfg.Name, version)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			failures++
			d.logRetry("watch tasks", err, failures)
			if api.IsCode(err, api.CodeNotFound) {
				registered = false // the controller lost us (new database): register again
			}
			if !sleepCtx(ctx, backoff(failures)) {
				return
			}
			continue
		}
		if failures > 0 {
			// The controller may have restarted: refresh our registration (addresses may be new to it).
			registered = false
		}
		failures = 0
		version = w.Version
		d.reconcile(ctx, w.Tasks)
	}
}

func (d *Daemon) logRetry(what string, err error, failures int) {
	lvl := d.log.Debug
	if failures == 1 || failures%10 == 0 {
		lvl = d.log.Warn
	}
	var ue *api.UnreachableError
	if errors.As(err, &ue) {
		lvl("controller unreachable, retrying", "op", what, "err", ue.Err, "attempt", failures)
		return
	}
	lvl("controller call failed, retrying", "op", what, "err", err, "attempt", failures)
}

// reconcile starts tasks that are new, updates running ones, and stops those that disappeared
// (the distribution was cancelled, failed, or ended long enough ago).
func (d *Daemon) reconcile(ctx context.Context, tasks []api.Task) {
	d.mu.Lock()
	defer d.mu.Unlock()
	seen := map[string]bool{}
	for _, t := range tasks {
		if t.Cancel {
			// Cancelled, or failed (by the host itself, or by the controller at the deadline):
			// stop it and drop what is unfinished; it stays listed only so that reports tally.
			continue
		}
		seen[t.ID] = true
		if cur, ok := d.tasks[t.ID]; ok {
			cur.update(t)
			continue
		}
		if t.Role != api.RoleRelay && t.Role != api.RoleClient {
			d.log.Warn("task with unknown role ignored", "task", t.ID, "role", t.Role)
			continue
		}
		nt := newTask(d, t)
		d.tasks[t.ID] = nt
		d.goRun(func() { nt.run(ctx) })
	}
	for id, t := range d.tasks {
		if !seen[id] {
			t.stop()
			delete(d.tasks, id)
		}
	}
}

// reportLoop sends the state of every task once a second.
func (d *Daemon) reportLoop(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		reps := d.reports()
		// An idle host still reports every 10 s: it doubles as the heartbeat that keeps it online.
		if len(reps) == 0 && n%10 != 0 {
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := d.api.Report(rctx, api.Report{Host: d.cfg.Name, Tasks: reps})
		cancel()
		if err != nil && ctx.Err() == nil {
			d.log.Debug("report failed", "err", err)
		}
	}
}

func (d *Daemon) reports() []api.TaskReport {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]api.TaskReport, 0, len(d.tasks))
	for _, t := range d.tasks {
		out = append(out, t.report())
	}
	return out
}

// backoff grows exponentially to 15 s with jitter, so a fleet does not reconnect in lockstep.
func backoff(failures int) time.Duration {
	b := 250 * time.Millisecond << min(failures, 6)
	b = min(b, 15*time.Second)
	return b/2 + rand.N(b/2+1)
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
