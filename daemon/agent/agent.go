// Package agent is a host's side of the conversation with the controller: it keeps the host
// registered, follows its watch stream, starts, updates and stops the tasks it lists, and reports
// their state. It holds the host's task table.
package agent

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"dist/core/api"
	"dist/core/retry"
	"dist/daemon/task"
)

// The request mix of a host, as the controller sees it (the fleet simulator replays it).
const (
	// ReportEvery is how often a host with tasks reports their state.
	ReportEvery = time.Second
	// MaxReportEvery bounds the progress interval a controller may ask for.
	MaxReportEvery = time.Minute
	// IdleReportEvery is how often a host without tasks reports: the heartbeat that keeps it
	// online. A controller of a big fleet asks for it less often, up to MaxIdleReportEvery.
	IdleReportEvery    = 10 * time.Second
	MaxIdleReportEvery = 5 * time.Minute
	// ReportTimeout bounds one report, its retries after a 429 included.
	ReportTimeout = 10 * time.Second
	// MaxPeersEvery bounds the tracker interval a controller may ask for.
	MaxPeersEvery = 5 * time.Minute
)

// Config is what the agent needs.
type Config struct {
	Env     *task.Env
	Roles   []api.Role
	HTTPURL string // this daemon's base URL
	BTAddr  string // this daemon's BitTorrent address
	Version string
	// Runners run the tasks of each role this host holds.
	Runners map[api.Role]task.Runner
}

// Agent is a host's agent.
type Agent struct {
	cfg Config
	log *slog.Logger

	mu    sync.Mutex
	tasks map[string]*task.Task // by task id
	wg    sync.WaitGroup
	metas Metainfos // fetched once per sum (watch answers name them)

	every atomic.Int64  // progress interval (ns): the controller's word, else ReportEvery
	peers atomic.Int64  // tracker interval (ns): the controller's word, else task.PeersEvery
	idle  atomic.Int64  // heartbeat interval (ns): the controller's word, else IdleReportEvery
	kick  chan struct{} // a task's state changed: report now
}

// New answers the agent of a host; Run starts it. It tells the host's tasks to report their state
// changes through it (Env.StateChanged).
func New(cfg Config) *Agent {
	a := &Agent{cfg: cfg, log: cfg.Env.Log, tasks: map[string]*task.Task{}, kick: make(chan struct{}, 1)}
	a.every.Store(int64(ReportEvery))
	a.peers.Store(int64(task.PeersEvery))
	a.idle.Store(int64(IdleReportEvery))
	cfg.Env.PeersEvery = func() time.Duration { return time.Duration(a.peers.Load()) }
	cfg.Env.KeepMetainfo = a.metas.Keep
	cfg.Env.StateChanged = func() {
		select {
		case a.kick <- struct{}{}:
		default:
		}
	}
	return a
}

// Run keeps the host registered and its tasks running until ctx ends; it returns once every task
// has stopped (their data is kept for the restart).
func (a *Agent) Run(ctx context.Context) {
	reported := make(chan struct{})
	go func() {
		defer close(reported)
		a.reportLoop(ctx)
	}()
	a.watch(ctx)
	<-reported
	a.mu.Lock()
	for _, t := range a.tasks {
		t.Close()
	}
	a.mu.Unlock()
	a.wg.Wait()
	a.goodbye()
}

func (a *Agent) watch(ctx context.Context) {
	env := a.cfg.Env
	version := ""
	registered := false
	failures := 0
	for ctx.Err() == nil {
		if !registered {
			err := env.API.Register(ctx, api.Host{
				Name: env.Name, Labels: env.Labels, Roles: a.cfg.Roles,
				HTTPURL: a.cfg.HTTPURL, BTAddr: a.cfg.BTAddr, Version: a.cfg.Version,
			})
			if err != nil {
				failures++
				a.logRetry("register with controller", err, failures)
				if !retry.Sleep(ctx, retry.Backoff(failures)) {
					return
				}
				continue
			}
			registered = true
			a.log.Info("registered with controller")
		}
		// A controller killed while it holds this watch resets the connection at once; with
		// several controller addresses the client asks the next one within this same call
		// (api.NewMulti), so the back-off below only runs when no address answered.
		w, err := env.API.Watch(ctx, env.Name, version)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			failures++
			a.logRetry("watch tasks", err, failures)
			if api.IsCode(err, api.CodeNotFound) {
				registered = false // the controller lost us (new database): register again
			}
			if !retry.Sleep(ctx, retry.Backoff(failures)) {
				return
			}
			continue
		}
		if failures > 0 {
			// The controller may have restarted: refresh our registration (addresses may be new to it).
			registered = false
		}
		if err := a.metas.Fill(ctx, a.metainfoFetch(w.Tasks), w.Tasks); err != nil {
			if ctx.Err() != nil {
				return
			}
			// The tasks run without it meanwhile; the version is kept, so the next watch answers
			// at once and the fetch is tried again after the back-off.
			a.reconcile(ctx, w.Tasks)
			failures++
			a.logRetry("fetch metainfo", err, failures)
			if !retry.Sleep(ctx, retry.Backoff(failures)) {
				return
			}
			continue
		}
		failures = 0
		version = w.Version
		if w.ReportEveryMs > 0 {
			a.every.Store(int64(ReportInterval(w.ReportEveryMs)))
		}
		if w.PeersEveryMs > 0 {
			a.peers.Store(int64(PeersInterval(w.PeersEveryMs)))
		}
		if w.IdleEveryMs > 0 {
			a.idle.Store(int64(IdleInterval(w.IdleEveryMs)))
		}
		a.reconcile(ctx, w.Tasks)
	}
}

func (a *Agent) logRetry(what string, err error, failures int) {
	lvl := a.log.Debug
	if failures == 1 || failures%10 == 0 {
		lvl = a.log.Warn
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
func (a *Agent) reconcile(ctx context.Context, tasks []api.Task) {
	a.mu.Lock()
	defer a.mu.Unlock()
	seen := map[string]bool{}
	for _, spec := range tasks {
		if spec.Cancel {
			// Cancelled, or failed (by the host itself, or by the controller at the deadline):
			// stop it and drop what is unfinished; it stays listed only so that reports tally.
			continue
		}
		seen[spec.ID] = true
		if cur, ok := a.tasks[spec.ID]; ok {
			cur.Update(spec)
			continue
		}
		run := a.cfg.Runners[spec.Role]
		if run == nil {
			a.log.Warn("task with a role this host does not run ignored", "task", spec.ID, "role", spec.Role)
			continue
		}
		t := task.New(a.cfg.Env, spec)
		a.tasks[spec.ID] = t
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			t.Run(ctx, run)
		}()
	}
	for id, t := range a.tasks {
		if !seen[id] {
			t.Stop()
			delete(a.tasks, id)
		}
	}
}

// The intervals a controller's watch answer gives in milliseconds, each within the agent's bounds.

// ReportInterval is the progress interval: ReportEvery to MaxReportEvery.
func ReportInterval(ms int64) time.Duration { return within(ms, ReportEvery, MaxReportEvery) }

// PeersInterval is the tracker interval: task.PeersEvery to MaxPeersEvery.
func PeersInterval(ms int64) time.Duration { return within(ms, task.PeersEvery, MaxPeersEvery) }

// IdleInterval is the heartbeat interval: IdleReportEvery to MaxIdleReportEvery.
func IdleInterval(ms int64) time.Duration { return within(ms, IdleReportEvery, MaxIdleReportEvery) }

func within(ms int64, lo, hi time.Duration) time.Duration {
	return min(max(time.Duration(ms)*time.Millisecond, lo), hi)
}

// reportLoop sends the state of every task at the progress interval the controller gives (at
// least ReportEvery), at once when a task's state changed, and an idle host's heartbeat at the
// interval the controller gives (at least IdleReportEvery).
func (a *Agent) reportLoop(ctx context.Context) {
	tick := time.NewTicker(ReportEvery)
	defer tick.Stop()
	var last time.Time // the last report sent
	for {
		now := time.Time{}
		select {
		case <-ctx.Done():
			return
		case now = <-tick.C:
		case <-a.kick:
			// A state change goes now; in a fleet big enough for a longer interval, within a
			// fifth of it, since a push changes thousands of hosts' states at the same moment.
			if d := StateReportDelay(time.Duration(a.every.Load())); d > 0 && !retry.Sleep(ctx, d) {
				return
			}
			now = time.Now()
			last = time.Time{}
		}
		every := time.Duration(a.idle.Load())
		if a.busy() {
			every = time.Duration(a.every.Load())
		}
		// A tick a little early must not skip a whole interval.
		if !last.IsZero() && now.Sub(last) < every-ReportEvery/2 {
			continue
		}
		last = now
		reps := a.outgoing() // only for a report that goes: it uses up mode-change repeats
		// A controller shedding load (429) is asked again after its Retry-After, with jitter,
		// with the state of that moment: a turned-away report loses nothing.
		rctx, cancel := context.WithTimeout(ctx, ReportTimeout)
		err := a.cfg.Env.API.ReportFresh(rctx, func() api.Report {
			if reps == nil {
				reps = a.outgoing()
			}
			r := api.Report{Host: a.cfg.Env.Name, Tasks: reps}
			reps = nil
			return r
		})
		cancel()
		if err != nil && ctx.Err() == nil {
			a.log.Debug("report failed", "err", err)
		}
	}
}

// busy reports whether the host has tasks.
func (a *Agent) busy() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.tasks) > 0
}

// Tasks answers the host's tasks.
func (a *Agent) Tasks() []*task.Task {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]*task.Task, 0, len(a.tasks))
	for _, t := range a.tasks {
		out = append(out, t)
	}
	return out
}

// Reports answers the state of every task, for a look (the LocalAPI's status): it sends nothing.
func (a *Agent) Reports() []api.TaskReport {
	ts := a.Tasks()
	out := make([]api.TaskReport, 0, len(ts))
	for _, t := range ts {
		out = append(out, t.Report())
	}
	return out
}

// outgoing answers the reports sent to the controller: each mode change in them uses up one of
// its repeats.
func (a *Agent) outgoing() []api.TaskReport {
	ts := a.Tasks()
	out := make([]api.TaskReport, 0, len(ts))
	for _, t := range ts {
		out = append(out, t.Outgoing())
	}
	return out
}

// Content answers the task whose content this host serves for a distribution: its relay task,
// else a finished client task; nil when there is none.
func (a *Agent) Content(distID string) *task.Task {
	var found *task.Task
	for _, t := range a.Tasks() {
		if t.DistID() != distID {
			continue
		}
		if t.Role() == api.RoleRelay {
			return t
		}
		if t.Complete.Load() {
			found = t
		}
	}
	return found
}

// DistOfMetainfo answers the distribution of a task of this host whose metainfo's bytes hash to
// sum; "" when there is none.
func (a *Agent) DistOfMetainfo(sum string) string {
	for _, t := range a.Tasks() {
		spec := t.Spec()
		if spec.MetainfoSHA256 == sum || (len(spec.Metainfo) > 0 && metaSum(spec.Metainfo) == sum) {
			return t.DistID()
		}
	}
	return ""
}

// Holds reports whether a task of this host holds a finished copy of source of size bytes.
func (a *Agent) Holds(source string, size int64) bool {
	for _, t := range a.Tasks() {
		if spec := t.Spec(); t.Complete.Load() && spec.Source == source && spec.Size == size {
			return true
		}
	}
	return false
}

// ModeChanges returns every mode change of the client task of distID, oldest first.
func (a *Agent) ModeChanges(distID string) []api.ModeChange {
	for _, t := range a.Tasks() {
		if t.DistID() == distID && t.Role() == api.RoleClient {
			return t.ModeChanges()
		}
	}
	return nil
}

// StateReportDelay is how long a host waits before it reports a state change when the progress
// interval is every: not at all at the shortest interval, else a random moment within a fifth of
// it.
func StateReportDelay(every time.Duration) time.Duration {
	if every <= ReportEvery {
		return 0
	}
	return rand.N(every / 5)
}
