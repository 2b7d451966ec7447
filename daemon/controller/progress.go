package controller

import (
	"context"
	"slices"
	"sync"
	"time"

	"dist/core/api"
	"dist/core/store"
)

// progressFlushEvery is how often the progress of reports that change no state is written: a
// fleet reports every second, and one commit for all of them replaces one per host. State changes
// are written at once; readers of the figures (the admin API, the upkeep) flush first, so they
// never see older figures than the reports the controller has answered.
const progressFlushEvery = time.Second

// progress holds the reports' figures not written yet.
type progress struct {
	flushMu sync.Mutex // one flush at a time, so a reader that flushed sees everything before it

	mu      sync.Mutex
	pending map[string]pendingTask // by assignment id: the latest figures
	samples []store.Sample
	flushed time.Time
}

type pendingTask struct {
	host string
	t    api.TaskReport
	at   time.Time
}

func newProgress(now time.Time) *progress {
	return &progress{pending: map[string]pendingTask{}, flushed: now}
}

// splitReport answers the tasks of a report that change a stored state (written at once: the
// distribution's state derives from them) and those that only move figures or the mode
// (gathered for the next flush). A mode change's event is kept at once (modeEvents); its columns
// can wait: when the metainfo comes, every client of a fleet changes mode in the same seconds, and
// a write each queued their reports behind each other.
func (s *Server) splitReport(ctx context.Context, host string, ts []api.TaskReport) (now, later []api.TaskReport) {
	for _, t := range ts {
		distID, _, _, _ := api.SplitAssignmentID(t.ID)
		same := false
		err := s.readView(ctx, distID, func(v *distView) {
			m := v.members[t.ID]
			same = m != nil && m.host == host && (t.State == "" || t.State == m.state)
		})
		if same && err == nil {
			later = append(later, t)
		} else {
			now = append(now, t)
		}
	}
	return now, later
}

// gather keeps the figures of tasks for the next flush and drops what is kept of the tasks
// written now (their report is newer).
func (s *Server) gather(host string, later, written []api.TaskReport, samples []store.Sample, at time.Time) {
	p := s.progress
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, t := range written {
		delete(p.pending, t.ID)
	}
	for _, t := range later {
		t.State = "" // a flush never writes a state: one written at once may be newer
		if old, ok := p.pending[t.ID]; ok {
			t = mergeTask(old.t, t)
		}
		p.pending[t.ID] = pendingTask{host: host, t: t, at: at}
	}
	p.samples = append(p.samples, samples...)
}

// mergeTask keeps what an older report set once and the newer one leaves out.
func mergeTask(old, t api.TaskReport) api.TaskReport {
	if t.FirstByteMs == 0 {
		t.FirstByteMs = old.FirstByteMs
	}
	if t.DoneMs == 0 {
		t.DoneMs = old.DoneMs
	}
	if t.Mode == "" {
		t.Mode, t.ModeReason = old.Mode, old.ModeReason
	}
	if len(t.ModeChanges) == 0 {
		t.ModeChanges = old.ModeChanges // the stored mode time moves to the newest of them
	}
	return t
}

// flushDue flushes when the interval has passed, without waiting for a flush under way.
func (s *Server) flushDue(ctx context.Context, now time.Time) {
	p := s.progress
	p.mu.Lock()
	due := now.Sub(p.flushed) >= progressFlushEvery
	p.mu.Unlock()
	if !due || !p.flushMu.TryLock() {
		return
	}
	defer p.flushMu.Unlock()
	s.flushLocked(ctx, now)
}

// flushSoon starts flushDue beside the request when the interval has passed: the report that
// happens to come due does not wait for the whole fleet's batch to be written.
func (s *Server) flushSoon(ctx context.Context, now time.Time) {
	p := s.progress
	p.mu.Lock()
	due := now.Sub(p.flushed) >= progressFlushEvery
	p.mu.Unlock()
	if due {
		s.background.Go(func() { s.flushDue(context.WithoutCancel(ctx), now) })
	}
}

// flushProgress writes every figure gathered so far; it returns once they are stored.
func (s *Server) flushProgress(ctx context.Context) {
	s.progress.flushMu.Lock()
	defer s.progress.flushMu.Unlock()
	s.flushLocked(ctx, s.now())
}

func (s *Server) flushLocked(ctx context.Context, now time.Time) {
	p := s.progress
	p.mu.Lock()
	pending, samples := p.pending, p.samples
	p.pending, p.samples, p.flushed = map[string]pendingTask{}, nil, now
	p.mu.Unlock()
	if len(pending) == 0 && len(samples) == 0 {
		return
	}
	ctx = context.WithoutCancel(ctx) // what the hosts were told is stored must be stored
	idx := map[string]int{}
	var batch []store.HostReport
	for _, pt := range pending {
		i, ok := idx[pt.host]
		if !ok {
			i = len(batch)
			idx[pt.host] = i
			batch = append(batch, store.HostReport{Host: pt.host, At: pt.at})
		}
		batch[i].Tasks = append(batch[i].Tasks, pt.t)
		if pt.at.After(batch[i].At) {
			batch[i].At = pt.at
		}
	}
	for part := range slices.Chunk(batch, flushChunk) {
		s.yieldWrites()
		if _, err := s.st.ApplyReports(ctx, part); err != nil {
			s.log.Warn("cannot store reported progress: the next reports carry it again", "hosts", len(part), "err", err)
		}
	}
	for part := range slices.Chunk(samples, flushChunk) {
		s.yieldWrites()
		if err := s.st.AddSamples(ctx, part); err != nil {
			s.log.Warn("cannot store progress samples", "samples", len(part), "err", err)
		}
	}
}

// flushChunk is how many hosts (or samples) one transaction of a flush writes. The store writes
// on one connection; between two chunks it goes to the reports waiting to commit a state change.
// In one transaction, the last_seen times of 10,000 simulated hosts held it 1.5 s, and every
// report of a wake-up waited for it.
const flushChunk = 512

// yieldMax bounds how long a flush chunk waits for the state changes and events being written:
// they go first (a report answers once its change is stored), the flush is not waited for.
const yieldMax = 200 * time.Millisecond

// yieldWrites waits for the reports' and events' commits under way, yieldMax each at most.
func (s *Server) yieldWrites() {
	s.commits.waitIdle(yieldMax)
	s.eventsGC.waitIdle(yieldMax)
}

// groupCommit writes what concurrent requests store together: the first to find no write under
// way writes its own job and every one queued meanwhile in one transaction, then the next batch,
// until none is left. Each request still answers only once its own job is stored. Used for the
// state changes of reports and for events.
type groupCommit[J any] struct {
	mu    sync.Mutex
	queue []J
	idle  chan struct{} // closed when the writes under way end; nil when none are
}

// waitIdle waits until no write of g is under way, d at most: a background write (a flush)
// lets the requests waiting for theirs go first.
func (g *groupCommit[J]) waitIdle(d time.Duration) {
	g.mu.Lock()
	ch := g.idle
	g.mu.Unlock()
	if ch == nil {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ch:
	case <-t.C:
	}
}

// run queues j and, when no write is under way, writes batches with commit until none is left.
// commit must signal every job of its batch; the caller then waits for its own.
func (g *groupCommit[J]) run(j J, commit func(batch []J)) {
	if g.enqueue(j) {
		g.drain(commit)
	}
}

// enqueue queues j and answers whether the caller is to write: no write was under way.
func (g *groupCommit[J]) enqueue(j J) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.queue = append(g.queue, j)
	if g.idle != nil {
		return false // a write is under way: it takes j in its next batch
	}
	g.idle = make(chan struct{})
	return true
}

// drain writes the queued batches with commit until none is left.
func (g *groupCommit[J]) drain(commit func(batch []J)) {
	g.mu.Lock()
	for {
		batch := g.queue
		g.queue = nil
		g.mu.Unlock()
		commit(batch)
		g.mu.Lock()
		if len(g.queue) == 0 {
			close(g.idle)
			g.idle = nil
			g.mu.Unlock()
			return
		}
	}
}

type commitJob struct {
	rep     store.HostReport
	changed []string
	err     error
	done    chan struct{}
}

// applyNow stores the tasks of one host's report now (with whatever else is queued) and answers
// the ids whose state changed.
func (s *Server) applyNow(ctx context.Context, host string, ts []api.TaskReport, now time.Time) ([]string, error) {
	j := &commitJob{rep: store.HostReport{Host: host, Tasks: ts, At: now}, done: make(chan struct{})}
	s.commits.run(j, func(batch []*commitJob) { s.commitBatch(context.WithoutCancel(ctx), batch) })
	<-j.done // the writer closes it whatever happens: a report is never left half-answered
	return j.changed, j.err
}

func (s *Server) commitBatch(ctx context.Context, batch []*commitJob) {
	reps := make([]store.HostReport, len(batch))
	owner := map[string]*commitJob{}
	for i, j := range batch {
		reps[i] = j.rep
		for _, t := range j.rep.Tasks {
			owner[t.ID] = j
		}
	}
	changed, err := s.st.ApplyReports(ctx, reps)
	for _, id := range changed {
		if j := owner[id]; j != nil {
			j.changed = append(j.changed, id)
		}
	}
	for _, j := range batch {
		if err != nil {
			j.err = err
		}
		close(j.done)
	}
}
