package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"dist/core/api"
	"dist/core/content"
	"dist/core/swarm"
)

// task is one assignment running on this host: a client download or a relay pull.
type task struct {
	d         *Daemon
	metaSet   chan struct{} // closed when the metainfo is known
	peersKick chan struct{} // a watch answer came: the swarm may have new members

	mu      sync.Mutex
	spec    api.Task
	state   string
	errMsg  string
	first   int64 // unix ms of the first byte
	doneAt  int64 // unix ms when the file was in place
	tor     *swarm.Torrent
	file    *os.File  // relay: the pulled file, for HTTP serving
	pulled  *pulled   // relay: what has landed so far, for serving while pulling (relay.go)
	removed bool      // the controller dropped the task: clean up what is unfinished
	mode    modeState // client: the hybrid download's mode (assist.go)

	have, bt, httpRelay, httpOrigin, up atomic.Int64
	peers                               atomic.Int64
	httpBadPieces                       atomic.Int64 // pieces fetched over HTTP that failed their hash
	complete                            atomic.Bool  // every byte is here and verified

	ctx    context.Context
	cancel context.CancelFunc
	exited chan struct{}
}

func newTask(d *Daemon, t api.Task) *task {
	nt := &task{d: d, spec: t, state: api.TaskPending, metaSet: make(chan struct{}), exited: make(chan struct{}),
		peersKick: make(chan struct{}, 1)}
	if len(t.Metainfo) > 0 {
		close(nt.metaSet)
	}
	return nt
}

// update takes a newer copy of the task from the watch stream; only the metainfo may appear later.
func (t *task) update(n api.Task) {
	// The controller wakes the watches when a swarm gains members (a host joins, a relay is
	// replaced): ask the tracker now instead of at the next poll.
	select {
	case t.peersKick <- struct{}{}:
	default:
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.spec.Metainfo) == 0 && len(n.Metainfo) > 0 {
		t.spec.Metainfo = n.Metainfo
		close(t.metaSet)
	}
}

// stop ends a task the controller no longer lists; unfinished data is removed.
func (t *task) stop() {
	t.mu.Lock()
	t.removed = true
	t.mu.Unlock()
	if t.cancel != nil {
		t.cancel()
	}
}

// close ends a task because the daemon stops; everything is kept for the restart.
func (t *task) close() {
	if t.cancel != nil {
		t.cancel()
	}
	<-t.exited
}

func (t *task) run(parent context.Context) {
	defer close(t.exited)
	t.mu.Lock()
	t.ctx, t.cancel = context.WithCancel(parent)
	ctx := t.ctx
	role := t.spec.Role
	t.mu.Unlock()
	log := t.d.log.With("task", t.spec.ID)
	var err error
	switch role {
	case api.RoleRelay:
		err = t.runRelay(ctx, log)
	default:
		err = t.runClient(ctx, log)
	}
	t.mu.Lock()
	removed := t.removed
	t.mu.Unlock()
	switch {
	case err == nil || ctx.Err() != nil:
	default:
		log.Error("task failed", "err", err)
		t.setFailed(err)
	}
	t.finish(removed)
}

// finish releases the torrent and, when the task was removed before completion, its partial data.
func (t *task) finish(removed bool) {
	t.mu.Lock()
	tor, f := t.tor, t.file
	t.tor, t.file = nil, nil
	t.mu.Unlock()
	clean := removed && !t.complete.Load()
	if tor != nil {
		_ = tor.Drop(false)
	}
	if f != nil {
		_ = f.Close()
	}
	if clean {
		_ = os.RemoveAll(t.dir())
	}
}

func (t *task) dir() string {
	sub := "tasks"
	if t.spec.Role == api.RoleRelay {
		sub = "relay"
	}
	return filepath.Join(t.d.cfg.Data, sub, safeName(t.spec.DistID))
}

func (t *task) setState(s string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.state != api.TaskFailed {
		t.state = s
	}
}

func (t *task) setFailed(err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.state = api.TaskFailed
	t.errMsg = err.Error()
}

func (t *task) markFirstByte() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.first == 0 {
		t.first = time.Now().UnixMilli()
	}
}

func (t *task) report() api.TaskReport {
	t.mu.Lock()
	defer t.mu.Unlock()
	return api.TaskReport{
		ID: t.spec.ID, State: t.state, Have: t.have.Load(),
		BytesBT: t.bt.Load(), BytesHTTPRelay: t.httpRelay.Load(), BytesHTTPOrigin: t.httpOrigin.Load(),
		BytesUp: t.up.Load(), Peers: int(t.peers.Load()),
		FirstByteMs: t.first, DoneMs: t.doneAt, Error: t.errMsg,
		Mode: t.mode.mode, ModeReason: t.mode.reason, ModeChanges: t.mode.toReport(),
	}
}

// meta waits for the metainfo and parses it.
func (t *task) meta(ctx context.Context) ([]byte, content.Meta, error) {
	mi, err := t.waitMetainfo(ctx)
	if err != nil {
		return nil, content.Meta{}, err
	}
	m, err := content.Parse(mi)
	if err != nil {
		return nil, content.Meta{}, fmt.Errorf("metainfo of %s: %w", t.spec.DistID, err)
	}
	return mi, m, nil
}

// waitMetainfo blocks until the controller delivers the metainfo (a relay hashing a URL source
// publishes it when its pull is done).
func (t *task) waitMetainfo(ctx context.Context) ([]byte, error) {
	select {
	case <-t.metaSet:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.spec.Metainfo, nil
}

// sample copies the torrent's counters into the task until ctx ends or done is closed.
func (t *task) sample(ctx context.Context, tor *swarm.Torrent, done <-chan struct{}) {
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		st := tor.Stats()
		t.bt.Store(st.BytesBT)
		t.up.Store(st.BytesUp)
		t.peers.Store(int64(st.Peers))
		if t.spec.Role == api.RoleClient {
			t.have.Store(st.Have)
			if st.Have > 0 {
				t.markFirstByte()
				t.setStateIf(api.TaskWaiting, api.TaskDownloading)
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

func (t *task) setStateIf(from, to string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.state == from {
		t.state = to
	}
}

// safeName keeps a name from the controller to one path element.
func safeName(s string) string {
	s = filepath.Base(filepath.Clean("/" + strings.ReplaceAll(s, "\\", "/")))
	if s == "/" || s == "." || s == ".." || s == "" {
		return "_"
	}
	return s
}

var errChecksum = errors.New("checksum mismatch")

func checksumError(path, want, got string) error {
	return fmt.Errorf("%w: %s has sha256 %s, the push expects %s", errChecksum, path, got, want)
}
