// Package task holds one assignment running on a host — a relay's pull or a client's download —
// with what every role shares: its state and counters as the controller sees them in reports,
// its metainfo (parsed once, when it reaches the host), its view of the swarm's peers, and the
// goroutines it starts, which all end with it.
package task

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"dist/core/api"
	"dist/core/content"
	"dist/core/fetch"
	"dist/core/swarm"
	"dist/daemon/origingate"
)

// Env is what every task of a host shares.
type Env struct {
	Name      string            // the host's name
	Data      string            // the data directory
	Labels    map[string]string // the host's labels
	Hybrid    api.Settings      // the host's hybrid defaults; a push's settings override them
	BTBlocked bool              // no BitTorrent connection at all (a network that blocks P2P)
	Node      *swarm.Node
	API       *api.Client  // the controller, as this host
	Pull      *http.Client // content pulls and streams from origins and relays
	Gates     *origingate.Set
	Log       *slog.Logger
	// Holds reports whether another task of this host holds a finished copy of source (of size
	// bytes): a push repeated then waits for its metainfo instead of streaming the file again.
	Holds func(source string, size int64) bool
	// PieceTime, when set, is told how long a piece took, by source (api.SourceBT,
	// api.SourceHTTPRelay, api.SourceHTTPOrigin, api.SourceHTTPPeer): the metrics' histogram.
	PieceTime func(source string, took time.Duration)
	// StateChanged, when set, is told that a task reached an end state (done, seeding, failed,
	// cancelled): the agent reports it at once instead of with the next progress report. It must
	// not block.
	StateChanged func()
	// PeersEvery, when set, answers the tracker interval the controller gives (PeersEvery when
	// unset).
	PeersEvery func() time.Duration
	// KeepMetainfo, when set, holds a metainfo this host built (a relay's pull) so that its peers
	// can fetch it from here.
	KeepMetainfo func(raw []byte)
}

func (e *Env) peersEvery() time.Duration {
	if e != nil && e.PeersEvery != nil {
		if d := e.PeersEvery(); d > 0 {
			return d
		}
	}
	return PeersEvery
}

// stateChanged tells the agent of a task's new state s when it is one to report at once: an end
// (done, seeding, failed, cancelled), which the operator's push --wait and the swarm's tracker
// wait for. A task's start and its first bytes go with the next progress report: a push moves a
// whole fleet through them in the same second.
func (e *Env) stateChanged(s api.TaskState) {
	if e != nil && e.StateChanged != nil && s.Ended() {
		e.StateChanged()
	}
}

// PieceFetched tells the host's PieceTime, if any, that a piece came from source in took.
func (e *Env) PieceFetched(source string, took time.Duration) {
	if e != nil && e.PieceTime != nil {
		e.PieceTime(source, took)
	}
}

// Content is what a task serves over HTTP Range: the relay's file while it pulls, or a finished
// copy.
type Content interface {
	io.ReaderAt
	// Ready waits until the byte at off can be read and answers how many bytes from off can be
	// read at once.
	Ready(ctx context.Context, off int64) (int64, error)
}

// Task is one assignment running on this host.
type Task struct {
	env     *Env
	log     *slog.Logger
	taken   time.Time     // when this daemon took the task up
	metaSet chan struct{} // closed when the metainfo is known
	peers   *Peers

	mu      sync.Mutex
	spec    api.Task
	meta    content.Meta
	metaErr error
	state   api.TaskState
	errMsg  string
	errCode string // classifies errMsg (api.CodeSourceFinal)
	problem string // why a task that has not failed is not moving (a full disk)
	first   int64  // unix ms of the first byte
	doneAt  int64  // unix ms when the file was in place (a client) or pulled (a relay)
	tor     *swarm.Torrent
	served  Content
	removed bool // the controller dropped the task: clean up what is unfinished
	mode    modeState
	stall   stallState

	// Counters the report carries; the runners keep them current.
	Have, BT, HTTPRelay, HTTPOrigin, Up atomic.Int64
	PeerConns                           atomic.Int64
	HTTPUp                              atomic.Int64 // bytes served over HTTP (Up is BitTorrent's)
	HTTPPeers                           atomic.Int64 // bytes from peers over HTTP before the metainfo (reported with BT's: the swarm's)
	HTTPBadPieces                       atomic.Int64 // pieces fetched over HTTP that failed their hash
	Zero, Kept                          atomic.Int64 // bytes written as zeros here, bytes kept from the older version
	// ZeroOwn is the zero bytes the task wrote itself outside the torrent (a relay's zero
	// pieces); Sample adds them to the torrent's.
	ZeroOwn  atomic.Int64
	Complete atomic.Bool // every byte is here and verified

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	exited chan struct{}
}

// New makes the task of spec on the host env; Run starts it.
func New(env *Env, spec api.Task) *Task {
	t := &Task{env: env, spec: spec, state: api.TaskPending, metaSet: make(chan struct{}), exited: make(chan struct{}),
		log: env.Log.With("task", spec.ID), taken: time.Now()}
	t.peers = newPeers(t)
	t.takeMetainfo(spec.Metainfo)
	return t
}

// takeMetainfo parses the metainfo once, when it reaches the host; callers hold t.mu or own t.
func (t *Task) takeMetainfo(mi []byte) {
	if len(mi) == 0 || t.meta.Known() || t.metaErr != nil {
		return
	}
	m, err := content.Parse(mi)
	if err == nil && t.spec.Size > 0 && m.Size != t.spec.Size {
		err = fmt.Errorf("it says %d bytes, the source has %d", m.Size, t.spec.Size)
	}
	if err != nil {
		t.metaErr = fmt.Errorf("metainfo of %s: %w", t.spec.DistID, err)
	} else {
		t.meta = m
	}
	t.spec.Metainfo = nil // kept once, parsed
	close(t.metaSet)
}

// Update takes a newer copy of the task from the watch stream: only the metainfo may appear later.
// When it does, the swarm starts: the peers are asked again at once.
func (t *Task) Update(n api.Task) {
	t.mu.Lock()
	known := t.meta.Known() || t.metaErr != nil
	if n.MetainfoSHA256 != "" {
		t.spec.MetainfoSHA256 = n.MetainfoSHA256 // what this host serves its metainfo by (swarmmeta)
	}
	t.takeMetainfo(n.Metainfo)
	now := t.meta.Known()
	t.mu.Unlock()
	if !known && now {
		t.peers.kick()
	}
}

// Spec is the task as the controller sent it (without the metainfo: see Meta).
func (t *Task) Spec() api.Task {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.spec
}

// ID, DistID and Role name the task.
func (t *Task) ID() string     { return t.spec.ID }
func (t *Task) DistID() string { return t.spec.DistID }
func (t *Task) Role() api.Role { return t.spec.Role }

// Env is the host the task runs on.
func (t *Task) Env() *Env { return t.env }

// TakenAt answers when this daemon took the task up: its first byte and its end count from it.
func (t *Task) TakenAt() time.Time { return t.taken }

// Log is the task's logger.
func (t *Task) Log() *slog.Logger { return t.log }

// Peers is the task's one view of the swarm's members.
func (t *Task) Peers() *Peers { return t.peers }

// Stop ends a task the controller no longer lists; unfinished data is removed.
// A task that failed earlier has exited already: its partial data goes now.
func (t *Task) Stop() {
	t.mu.Lock()
	t.removed = true
	cancel := t.cancel
	t.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	go func() {
		<-t.exited
		t.dropUnfinished()
	}()
}

// dropUnfinished removes the task's directory (partial file, piece record) unless the copy is
// complete; a finished copy at its destination is never touched.
func (t *Task) dropUnfinished() {
	if !t.Complete.Load() {
		_ = os.RemoveAll(t.Dir())
	}
}

// Close ends a task because the daemon stops; everything is kept for the restart.
func (t *Task) Close() {
	t.mu.Lock()
	cancel := t.cancel
	t.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	<-t.exited
}

// Runner is what a role does with a task: it returns when the task is over for this host (its
// context ended), or with the error that failed it.
type Runner func(ctx context.Context, t *Task) error

// Run runs the task with run until parent ends or the task is stopped, then releases what it
// holds. Every goroutine started with Go has ended when Run returns.
func (t *Task) Run(parent context.Context, run Runner) {
	defer close(t.exited)
	ctx, cancel := context.WithCancel(parent)
	t.mu.Lock()
	t.ctx, t.cancel = ctx, cancel
	if t.removed {
		cancel() // stopped before it started
	}
	t.mu.Unlock()
	t.Go(func() { t.peers.follow(ctx) })
	err := run(ctx, t)
	if err != nil && ctx.Err() == nil {
		t.log.Error("task failed", "err", err)
		t.SetFailed(err)
	}
	cancel()
	t.wg.Wait()
	t.mu.Lock()
	// A failed task keeps nothing partial: nobody resumes it, and its bytes only take room.
	drop := t.removed || t.state == api.TaskFailed
	tor := t.tor
	t.tor, t.served = nil, nil
	t.mu.Unlock()
	if tor != nil {
		_ = tor.Drop(false)
	}
	if drop {
		t.dropUnfinished()
	}
}

// Go runs f beside the task; Run waits for it. f must return when the task's context ends.
func (t *Task) Go(f func()) {
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		f()
	}()
}

// Dir is the task's own directory below the data directory.
func (t *Task) Dir() string {
	sub := "tasks"
	if t.spec.Role == api.RoleRelay {
		sub = "relay"
	}
	return filepath.Join(t.env.Data, sub, SafeName(t.spec.DistID))
}

// SetState moves the task to state s, unless it failed.
func (t *Task) SetState(s api.TaskState) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.state != api.TaskFailed && t.state != s {
		t.state = s
		t.env.stateChanged(s)
	}
}

// SetStateIf moves the task from state from to state to.
func (t *Task) SetStateIf(from, to api.TaskState) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.state == from && from != to {
		t.state = to
		t.env.stateChanged(to)
	}
}

// SetFailed fails the task with err.
func (t *Task) SetFailed(err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.state = api.TaskFailed
	t.env.stateChanged(api.TaskFailed)
	t.errMsg = err.Error()
	if fetch.Final(err) {
		// The origin's answer will not change: the controller fails the distribution instead of
		// handing the pull to another relay.
		t.errCode = api.CodeSourceFinal
	}
}

// SetProblem says why the task is not moving although it has not failed ("" when it moves
// again); the report carries it as the task's error.
func (t *Task) SetProblem(msg string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.problem = msg
}

// MarkFirstByte notes the first byte, once.
func (t *Task) MarkFirstByte() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.first == 0 {
		t.first = time.Now().UnixMilli()
	}
}

// SetDone notes when the task finished (unix ms).
func (t *Task) SetDone(ms int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.doneAt = ms
}

// Report is the task's state as a look at it answers (status, metrics): it carries the mode
// changes still to be sent, and sends nothing.
func (t *Task) Report() api.TaskReport { return t.report(false) }

// Outgoing is the report sent to the controller: each mode change it carries uses up one of its
// repeats. Only the agent's report loop calls it, so a look at the task never takes a change
// from the controller.
func (t *Task) Outgoing() api.TaskReport { return t.report(true) }

func (t *Task) report(send bool) api.TaskReport {
	t.mu.Lock()
	defer t.mu.Unlock()
	return api.TaskReport{
		ID: t.spec.ID, State: t.state, Have: t.Have.Load(),
		BytesBT: t.BT.Load() + t.HTTPPeers.Load(), BytesHTTPRelay: t.HTTPRelay.Load(), BytesHTTPOrigin: t.HTTPOrigin.Load(),
		BytesUp: t.Up.Load() + t.HTTPUp.Load(), Peers: int(t.PeerConns.Load()),
		BytesZero: t.Zero.Load(), BytesKept: t.Kept.Load(),
		FirstByteMs: t.first, DoneMs: t.doneAt, Error: cmp.Or(t.errMsg, t.problem, t.stallReason(time.Now())), ErrorCode: t.errCode,
		Mode: t.mode.mode, ModeReason: t.mode.reason, ModeChanges: t.mode.toReport(send),
	}
}

// MetaKnown reports whether the metainfo has reached the host.
func (t *Task) MetaKnown() <-chan struct{} { return t.metaSet }

// Meta waits for the metainfo (a relay hashing a URL source publishes it when its pull is done)
// and answers it, parsed.
func (t *Task) Meta(ctx context.Context) (content.Meta, error) {
	select {
	case <-t.metaSet:
	case <-ctx.Done():
		return content.Meta{}, ctx.Err()
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.meta, t.metaErr
}

// MetaNow answers the metainfo if it is known, without waiting.
func (t *Task) MetaNow() (content.Meta, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.meta, t.meta.Known()
}

// Settings merges the push's settings over the host's defaults.
func (t *Task) Settings() api.Settings {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.spec.Settings.Merge(t.env.Hybrid)
}

// Timeout answers a channel closed when the task's timeout passes, so that any number of readers
// see it; nil (never) without one.
func (t *Task) Timeout() <-chan struct{} {
	ms := t.Settings().TimeoutMs
	if ms <= 0 {
		return nil
	}
	ch := make(chan struct{})
	time.AfterFunc(time.Duration(ms)*time.Millisecond, func() { close(ch) })
	return ch
}

// Hold makes tor the task's torrent: its counters are reported and Run drops it at the end.
func (t *Task) Hold(tor *swarm.Torrent) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.tor = tor
}

// Torrent answers the task's torrent, nil before there is one.
func (t *Task) Torrent() *swarm.Torrent {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.tor
}

// Serve makes c what the task serves over HTTP; nil serves nothing.
func (t *Task) Serve(c Content) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.served = c
}

// Served answers what the task serves over HTTP and a context that ends with the task, so that a
// request waiting for bytes lets go when the task stops.
func (t *Task) Served() (Content, context.Context) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.served, t.ctx
}

// Sample copies the torrent's counters into the task until ctx ends or done is closed.
func (t *Task) Sample(ctx context.Context, tor *swarm.Torrent, done <-chan struct{}) {
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		st := tor.Stats()
		t.BT.Store(st.BytesBT)
		t.Up.Store(st.BytesUp)
		t.Zero.Store(t.ZeroOwn.Load() + st.BytesZero)
		t.Kept.Store(st.BytesKept)
		t.PeerConns.Store(int64(st.Peers))
		if t.spec.Role == api.RoleClient {
			t.Have.Store(st.Have)
			if st.Have > 0 {
				t.MarkFirstByte()
				t.SetStateIf(api.TaskWaiting, api.TaskDownloading)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-done:
			return
		case <-tick.C:
		}
	}
}

// SafeName keeps a name from the controller to one path element.
func SafeName(s string) string {
	s = filepath.Base(filepath.Clean("/" + strings.ReplaceAll(s, "\\", "/")))
	if s == "/" || s == "." || s == ".." || s == "" {
		return "_"
	}
	return s
}
