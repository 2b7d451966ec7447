package controller

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"dist/core/api"
	"dist/core/store"
)

// cluster keeps the memory of controllers that share one database in step. Each controller holds
// the fleet in memory (hosts, distribution views, watches) and answers from it; what one of them
// changes, it tells the others in short lines over the store's bus (PostgreSQL LISTEN/NOTIFY), and
// each applies them as it would its own change: a state moved in a view, a view dropped, a host
// registered or seen, the watches of some hosts woken. So a watch held by controller B wakes when
// a host reports its task done to controller A, and the cost of a change is the same at every
// controller: in proportion to the change, never to the fleet.
//
// The lines, each of one kind:
//
//	d ID            distribution ID changed in a way views do not follow: drop its view
//	s ID=STATE …    assignments moved to these states (reports)
//	h {host JSON}   a host registered (or "h? NAME": read it from the store)
//	seen MS NAME …  these hosts were seen at or after unix ms MS
//	bye MS NAME     host NAME said goodbye at MS
//	x ID            assignment ID ended by the controller: its late reports are dropped
//	w NAME …        the tasks of these hosts changed: wake their watches
//	W               wake every watch
//	R               read everything again (a sender that lost lines says so)
//
// A payload is the sender's id, a newline, and lines separated by newlines. A listener that lost
// its connection reads everything again when it is back (resync), since lines sent meanwhile are
// gone. Lines are sent in order from one goroutine; PostgreSQL delivers them in commit order.
type cluster struct {
	bus  store.Bus
	self string

	mu    sync.Mutex
	lines []string
	kick  chan struct{}

	leading atomic.Bool // this controller runs the lifecycle (deadlines, lost relays)
	onApply func()      // tests: called after each payload from another controller
}

// clusterQueueMax bounds the lines waiting for the bus: beyond it they are replaced by one R,
// which makes every other controller read everything again.
const clusterQueueMax = 200_000

// leadKey is the advisory lock whose holder runs the lifecycle: two controllers replacing the
// same lost relay at once would pick two replacements.
const leadKey int64 = 0x6469_7374_6c65_6164 // "distlead"

func newCluster(st store.Store, self string) *cluster {
	bus, ok := st.(store.Bus)
	if !ok {
		return nil
	}
	return &cluster{bus: bus, self: self, kick: make(chan struct{}, 1)}
}

// push queues lines for the other controllers.
func (c *cluster) push(lines ...string) {
	if c == nil || len(lines) == 0 {
		return
	}
	c.mu.Lock()
	if len(c.lines)+len(lines) > clusterQueueMax {
		c.lines = append(c.lines[:0], "R")
	} else {
		c.lines = append(c.lines, lines...)
	}
	c.mu.Unlock()
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// pushList queues "kind item item …" lines, as many as the items need to fit in a payload.
func (c *cluster) pushList(kind string, items []string) {
	if c == nil || len(items) == 0 {
		return
	}
	limit := store.MaxBusMessage - len(c.self) - 2
	var lines []string
	var b strings.Builder
	for _, it := range items {
		if b.Len() > 0 && b.Len()+1+len(it) > limit {
			lines = append(lines, b.String())
			b.Reset()
		}
		if b.Len() == 0 {
			b.WriteString(kind)
		}
		b.WriteByte(' ')
		b.WriteString(it)
	}
	if b.Len() > 0 {
		lines = append(lines, b.String())
	}
	c.push(lines...)
}

// pack joins lines into payloads of at most store.MaxBusMessage bytes.
func (c *cluster) pack(lines []string) []string {
	var out []string
	var b strings.Builder
	for _, l := range lines {
		if len(c.self)+1+len(l) > store.MaxBusMessage {
			l = "R" // cannot happen with the producers above; the others read everything instead
		}
		if b.Len() > 0 && b.Len()+1+len(l) > store.MaxBusMessage {
			out = append(out, b.String())
			b.Reset()
		}
		if b.Len() == 0 {
			b.WriteString(c.self)
		}
		b.WriteByte('\n')
		b.WriteString(l)
	}
	if b.Len() > 0 {
		out = append(out, b.String())
	}
	return out
}

// send publishes what is queued until ctx ends. Lines that could not be sent stay first in line.
func (s *Server) clusterSend(ctx context.Context) {
	c := s.cluster
	wait := 100 * time.Millisecond
	for {
		select {
		case <-ctx.Done():
			// What is left goes out on the way down: the others must not miss the last changes.
			c.mu.Lock()
			lines := c.lines
			c.lines = nil
			c.mu.Unlock()
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			_ = c.bus.Publish(sctx, c.pack(lines))
			cancel()
			return
		case <-c.kick:
		}
		c.mu.Lock()
		lines := c.lines
		c.lines = nil
		c.mu.Unlock()
		if len(lines) == 0 {
			continue
		}
		if err := c.bus.Publish(ctx, c.pack(lines)); err != nil {
			if ctx.Err() != nil {
				continue
			}
			s.log.Warn("cannot tell the other controllers of changes: trying again", "lines", len(lines), "err", err)
			c.mu.Lock()
			c.lines = append(lines, c.lines...)
			if len(c.lines) > clusterQueueMax {
				c.lines = []string{"R"}
			}
			c.mu.Unlock()
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
			case <-t.C:
			}
			t.Stop()
			wait = min(2*wait, 5*time.Second)
			select {
			case c.kick <- struct{}{}:
			default:
			}
			continue
		}
		wait = 100 * time.Millisecond
	}
}

// clusterRun runs the bus: the sender, the listener and the lifecycle leadership, until ctx ends.
func (s *Server) clusterRun(ctx context.Context, wg *sync.WaitGroup) {
	c := s.cluster
	wg.Add(3)
	go func() { defer wg.Done(); s.clusterSend(ctx) }()
	go func() { defer wg.Done(); c.bus.Listen(ctx, s.clusterApply, s.clusterResync) }()
	go func() {
		defer wg.Done()
		c.bus.Lead(ctx, leadKey, time.Second, func(lctx context.Context) {
			c.leading.Store(true)
			s.log.Info("this controller runs the lifecycle of the distributions")
			<-lctx.Done()
			c.leading.Store(false)
		})
	}()
}

// runsLifecycle reports whether this controller decides deadlines and lost relays: always when it
// is alone, else when it holds the leadership.
func (s *Server) runsLifecycle() bool {
	return s.cluster == nil || s.cluster.leading.Load()
}

// clusterApply applies one payload of another controller.
func (s *Server) clusterApply(payload string) {
	from, body, _ := strings.Cut(payload, "\n")
	if from == s.cluster.self {
		return
	}
	ctx := context.Background()
	states := map[string]api.TaskState{}
	var wake []string
	wakeAll := false
	flushStates := func() {
		if len(states) > 0 {
			s.views.applyStates(states)
			states = map[string]api.TaskState{}
		}
	}
	for line := range strings.SplitSeq(body, "\n") {
		kind, rest, _ := strings.Cut(line, " ")
		switch kind {
		case "s":
			for _, f := range strings.Fields(rest) {
				if id, st, ok := strings.Cut(f, "="); ok {
					states[id] = api.TaskState(st)
				}
			}
			continue // states gather until another kind of line
		}
		flushStates()
		switch kind {
		case "d":
			s.views.drop(rest)
			s.views.watch.changed()
			s.forgetLive()
		case "h":
			var h api.Host
			if json.Unmarshal([]byte(rest), &h) == nil && h.Name != "" {
				s.hostChanged(h)
				s.joinRemote(ctx, h)
			}
		case "h?":
			if h, err := s.raw.Host(ctx, rest); err == nil {
				s.hostChanged(h)
				s.joinRemote(ctx, h)
			}
		case "seen":
			ms, names, _ := strings.Cut(rest, " ")
			n, err := strconv.ParseInt(ms, 10, 64)
			if err != nil {
				continue
			}
			s.hostsSeen(ctx, time.UnixMilli(n), strings.Fields(names))
		case "bye":
			ms, name, _ := strings.Cut(rest, " ")
			if n, err := strconv.ParseInt(ms, 10, 64); err == nil && name != "" {
				s.farewell(name, time.UnixMilli(n))
			}
		case "x":
			s.fleet.mu.Lock()
			s.fleet.expired[rest] = true
			s.fleet.mu.Unlock()
		case "w":
			wake = append(wake, strings.Fields(rest)...)
		case "W":
			wakeAll = true
		case "R":
			s.clusterResync()
		}
	}
	flushStates()
	if wakeAll {
		s.notify.wakeLocal()
	} else if len(wake) > 0 {
		s.notify.wakeHostsLocal(wake)
	}
	if f := s.cluster.onApply; f != nil {
		f()
	}
}

// joinRemote joins a host that registered at another controller to this controller's live
// distributions, as its own registration would: a push made here while the host registered there
// picked its targets before this controller heard of it, and that controller's list of live
// distributions may not hold the push yet, so either could miss it. Adding an assignment twice
// adds it once (store.AddAssignments), so both trying is harmless.
func (s *Server) joinRemote(ctx context.Context, h api.Host) {
	if err := s.join(ctx, h); err != nil {
		s.log.Warn("cannot join a host registered at another controller", "host", h.Name, "err", err)
	}
}

// clusterResync reads again what other controllers may have changed while this one could not
// hear them: every host, every view (dropped: the next use builds it), the watch list.
func (s *Server) clusterResync() {
	ctx := context.Background()
	if s.hosts.loaded.Load() {
		if hs, err := s.raw.Hosts(ctx); err == nil {
			for _, h := range hs {
				s.hostChanged(h)
			}
		} else {
			s.log.Warn("cannot read the hosts again after a break with the other controllers", "err", err)
		}
	}
	s.views.dropAll()
	s.views.watch.changed()
	s.forgetLive()
	s.notify.wakeLocal()
}

// hostChanged takes in a host stored by another controller, keeping a newer last_seen.
func (s *Server) hostChanged(h api.Host) {
	if !s.hosts.loaded.Load() {
		return // the first use loads every host from the store
	}
	e := newEntry(h)
	hi := s.hosts
	hi.mu.Lock()
	if cur, ok := hi.byName[h.Name]; ok {
		e.see(time.Unix(0, cur.seen.Load()))
		e.written.Store(max(e.written.Load(), cur.written.Load()))
	}
	hi.byName[h.Name] = e
	hi.mu.Unlock()
}

// hostsSeen moves the last_seen of hosts another controller saw. Those it wrote need no writing
// here: they count as written.
func (s *Server) hostsSeen(ctx context.Context, at time.Time, names []string) {
	if !s.hosts.loaded.Load() {
		return
	}
	var unknown []string
	hi := s.hosts
	hi.mu.RLock()
	for _, n := range names {
		e, ok := hi.byName[n]
		if !ok {
			unknown = append(unknown, n)
			continue
		}
		wrote := e.seen.Load() <= at.UnixNano()
		e.see(at)
		if wrote {
			e.written.Store(max(e.written.Load(), at.UnixNano()))
		}
	}
	hi.mu.RUnlock()
	for _, n := range unknown { // registered while this one was away: rare
		if h, err := s.raw.Host(ctx, n); err == nil {
			s.hostChanged(h)
		}
	}
}

// The methods below tell the other controllers of a change made here; on a nil cluster (a
// controller alone) they do nothing.

func (c *cluster) dist(id string) { c.push("d " + id) }

func (c *cluster) states(states map[string]api.TaskState) {
	if c == nil || len(states) == 0 {
		return
	}
	items := make([]string, 0, len(states))
	for id, st := range states {
		items = append(items, id+"="+string(st))
	}
	c.pushList("s", items)
}

func (c *cluster) host(h api.Host) {
	if c == nil {
		return
	}
	b, err := json.Marshal(h)
	if err != nil || len(b)+len(c.self)+3 > store.MaxBusMessage {
		c.push("h? " + h.Name)
		return
	}
	c.push("h " + string(b))
}

func (c *cluster) seen(batch map[string]time.Time) {
	if c == nil || len(batch) == 0 {
		return
	}
	// One time for the lot, the oldest: the others judge a host online a little early rather
	// than late.
	var oldest time.Time
	names := make([]string, 0, len(batch))
	for n, t := range batch {
		names = append(names, n)
		if oldest.IsZero() || t.Before(oldest) {
			oldest = t
		}
	}
	c.pushList("seen "+strconv.FormatInt(oldest.UnixMilli(), 10), names)
}

func (c *cluster) bye(name string, at time.Time) {
	c.push("bye " + strconv.FormatInt(at.UnixMilli(), 10) + " " + name)
}

// expireTask drops the late reports of an assignment the controller ended, here and at the others.
func (s *Server) expireTask(id string) {
	s.fleet.mu.Lock()
	s.fleet.expired[id] = true
	s.fleet.mu.Unlock()
	s.cluster.push("x " + id)
}

func (c *cluster) wake(names []string, all bool) {
	if c == nil {
		return
	}
	if all {
		c.push("W")
		return
	}
	c.pushList("w", names)
}
