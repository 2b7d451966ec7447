// Package client runs a client task: one run for every destination — a file moved into place
// atomically, or a device written in place through a plugin — behind one sink. It streams the file
// over HTTP from a relay while the metainfo is not known yet (stream.go), then downloads over
// BitTorrent with the HTTP assist beside it, checks the whole-file SHA-256, commits the copy and
// seeds.
package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"dist/core/api"
	"dist/core/atomicfile"
	"dist/core/content"
	"dist/core/swarm"
	"dist/daemon/assist"
	"dist/daemon/early"
	"dist/daemon/pluginhost"
	"dist/daemon/serve"
	"dist/daemon/task"
)

// Config is what a client needs beyond its task.
type Config struct {
	// Devices opens destinations reached through origin-IO plugins (partition:///dev/…).
	Devices *pluginhost.Manager
	// DestRoots are where a push may put files on this host: absolute paths, and device URI
	// prefixes (partition:///dev/disk/by-label/). Default: <data>/files.
	DestRoots []string
	// WriteRetry is how often a download stopped by a failed write (a full disk) tries to write
	// again; FullFor is how long it may stay stopped before the task fails.
	WriteRetry, FullFor time.Duration
	// Early, when set, exchanges a URL source's pieces over HTTP before the metainfo exists.
	Early *early.Registry
	// CheckTries bounds how often a copy whose whole-file checksum fails is repaired (its pieces
	// verified again, the bad ones fetched again) before the task fails.
	CheckTries int
}

// Defaults of Config.
const (
	DefaultCheckTries = 3
	DefaultWriteRetry = 5 * time.Second
	DefaultFullFor    = 30 * time.Minute
)

// Client runs client tasks.
type Client struct {
	cfg Config
}

// New answers a client with cfg.
func New(cfg Config) *Client {
	if cfg.CheckTries <= 0 {
		cfg.CheckTries = DefaultCheckTries
	}
	if cfg.WriteRetry <= 0 {
		cfg.WriteRetry = DefaultWriteRetry
	}
	if cfg.FullFor <= 0 {
		cfg.FullFor = DefaultFullFor
	}
	return &Client{cfg: cfg}
}

// doneRecord marks a finished client task, so a restarted daemon seeds from the destination
// instead of fetching again.
type doneRecord struct {
	InfoHash string `json:"info_hash"`
	Dest     string `json:"dest"`
	DoneMs   int64  `json:"done_ms"`
}

// errChecksum is a copy that does not match the push's or the publisher's whole-file checksum.
var errChecksum = errors.New("checksum mismatch")

// Run is the task.Runner of client tasks.
func (c *Client) Run(ctx context.Context, t *task.Task) error {
	t.SetState(api.TaskWaiting)
	s, err := c.sink(ctx, t)
	if err != nil {
		return err
	}
	defer s.close()
	pre := "" // the SHA-256 the exchange computed while the pieces landed
	if task := t.Spec(); s.streams() && (t.Env().Holds == nil || !t.Env().Holds(task.Source, task.Size)) && !fillsLocally(t, s) {
		pre = c.exchangeBeforeMetainfo(ctx, t) // pieces over HTTP while a relay hashes the source
	}
	m, err := t.Meta(ctx)
	if err != nil {
		return err
	}
	dir := t.Dir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("task directory %s: %w", dir, err)
	}
	marker := filepath.Join(dir, "done.json")
	rec, finished := readDone(marker)
	finished = finished && rec.InfoHash == m.InfoHash && rec.Dest == s.name() && s.holds(m)

	if other := t.Env().Node.Torrent(m.InfoHash); other != nil {
		// The same content runs here already (a push repeated, a publisher that is a target too).
		return c.share(ctx, t, s, m, other, marker, finished, rec)
	}
	spec, err := s.spec(m, finished)
	if err != nil {
		return err
	}
	c.useBase(t, s, &spec) // delta update: keep what the destination holds (local.go)
	spec.PieceTime = func(d time.Duration) { t.Env().PieceFetched(api.SourceBT, d) }
	added := time.Now()
	tor, err := t.Env().Node.Add(ctx, spec)
	if err != nil {
		return fmt.Errorf("add torrent %s for %s: %w", m.InfoHash, s.name(), err)
	}
	s.taken()
	t.Hold(tor)
	if finished {
		// Finished before a restart: seed from the destination.
		t.Complete.Store(true)
		t.Have.Store(m.Size)
		t.SetDone(rec.DoneMs)
		t.SetState(api.TaskDone)
		t.Serve(serve.Whole{ReaderAt: tor, Size: m.Size})
		t.Sample(ctx, tor, nil)
		return nil
	}
	if t.Env().BTBlocked {
		tor.BlockBT()
	}
	addTook := time.Since(added)
	if err := c.download(ctx, t, s, m, tor, pre); err != nil {
		return err
	}
	downloadTook := time.Since(added) - addTook
	if err := s.commit(tor); err != nil {
		return err
	}
	now := time.Now().UnixMilli()
	if err := atomicfile.WriteJSON(marker, doneRecord{InfoHash: m.InfoHash, Dest: s.name(), DoneMs: now}); err != nil {
		t.Log().Warn("done marker not written", "err", err)
	}
	t.Complete.Store(true)
	t.SetDone(now)
	t.SetState(api.TaskDone)
	t.Serve(serve.Whole{ReaderAt: tor, Size: m.Size})
	st := tor.Stats()
	t.Log().Info("copy in place", "dest", s.name(), "bytes", m.Size, "bt", st.BytesBT,
		"add_took", addTook.Round(time.Millisecond), "download_and_check_took", downloadTook.Round(time.Millisecond))
	t.Sample(ctx, tor, nil) // keep seeding and counting uploads
	return nil
}

// download runs BitTorrent and the HTTP assist until every piece is here and the whole content
// matches its checksum; a copy that does not is repaired a bounded number of times. pre, when
// set, is the checksum of the same bytes computed as they landed: the first check needs no read.
func (c *Client) download(ctx context.Context, t *task.Task, s sink, m content.Meta, tor *swarm.Torrent, pre string) error {
	timeout := t.Timeout()
	want := strings.ToLower(t.Spec().SHA256)
	if want == "" {
		want = m.SHA256
	}
	for try := 1; ; try++ {
		if err := c.complete(ctx, t, s, m, tor, timeout); err != nil {
			return err
		}
		st := tor.Stats()
		t.Have.Store(st.Have)
		t.BT.Store(st.BytesBT)
		t.Zero.Store(st.BytesZero) // the done report carries exact figures
		t.Kept.Store(st.BytesKept)
		if want == "" {
			return nil
		}
		got, err := c.endCheck(ctx, t, m, tor, pre, want)
		pre = "" // a repaired copy is read again
		if errors.Is(err, swarm.ErrPieceRotten) && try < c.cfg.CheckTries {
			// Reading for the checksum found a piece that no longer matches its hash; it was
			// handed back to BitTorrent: wait for it and check again.
			t.Log().Warn("copy holds a piece that no longer matches its hash; fetching it again", "dest", s.name(), "err", err, "try", try)
			continue
		}
		if err != nil {
			return fmt.Errorf("checksum of %s: %w", s.name(), err)
		}
		if got == want {
			return nil
		}
		// Bytes rotted after they were verified (or the file was touched): find the bad pieces
		// and fetch them again.
		bad, err := tor.Reverify(ctx)
		if err != nil {
			return err
		}
		t.Log().Warn("copy failed its whole-file checksum; fetching the bad pieces again", "dest", s.name(), "bad_pieces", len(bad), "try", try)
		if len(bad) == 0 {
			return fmt.Errorf("%w: %s has sha256 %s, expected %s, yet every piece matches the metainfo: the source changed under its metainfo", errChecksum, s.name(), got, want)
		}
		if try >= c.cfg.CheckTries {
			return fmt.Errorf("%w: %s has sha256 %s, expected %s, after %d repairs", errChecksum, s.name(), got, want, try)
		}
		repairing(t, s, m, got, want, len(bad), try, c.cfg.CheckTries)
	}
}

// complete waits until every piece is here, the task's timeout passes, the sink fails, or ctx ends.
func (c *Client) complete(ctx context.Context, t *task.Task, s sink, m content.Meta, tor *swarm.Torrent, timeout <-chan struct{}) error {
	done := tor.Done()
	// The assist and the sampler run for this round only: no HTTP fetch outlives it.
	rctx, stop := context.WithCancel(ctx)
	assisted, sampled := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(assisted)
		assist.Run(rctx, t, tor)
	}()
	go func() {
		defer close(sampled)
		t.Sample(rctx, tor, done)
	}()
	defer func() { stop(); <-assisted; <-sampled }()
	retry := time.NewTicker(c.cfg.WriteRetry)
	defer retry.Stop()
	var stuck stall
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timeout:
			return fmt.Errorf("distribution %s not complete after the task timeout of %s: %d of %d bytes in %s",
				t.DistID(), time.Duration(t.Settings().TimeoutMs)*time.Millisecond, tor.Stats().Have, m.Size, s.name())
		case <-s.failed():
			// The plugin crashed, hung or refused: the pieces already verified stay recorded, so a
			// retried task resumes; this one fails with the plugin's words.
			return fmt.Errorf("destination %s: %w", s.name(), s.err())
		case <-done:
			t.SetProblem("")
			return nil
		case now := <-retry.C:
			if err := c.writes(t, s, tor, now, &stuck); err != nil {
				return err
			}
		}
	}
}

// writes follows a download stopped by a failed write (a full disk): the task says why at once,
// writing is tried again every WriteRetry (it goes on by itself once space returns), and after
// FullFor without progress the task fails.
func (c *Client) writes(t *task.Task, s sink, tor *swarm.Torrent, now time.Time, st *stall) error {
	err := tor.WriteFailure()
	have := tor.Stats().Have
	if st.since.IsZero() {
		if err == nil {
			return nil
		}
		st.since, st.have, st.err = now, have, err
		t.Log().Warn("download stopped: cannot write", "dest", s.name(), "err", err)
	} else if have > st.have && err == nil {
		t.Log().Info("writes go on", "dest", s.name(), "stopped_for", now.Sub(st.since).Round(time.Second))
		*st = stall{}
		t.SetProblem("")
		return nil
	}
	if err != nil {
		st.err = err
	}
	if now.Sub(st.since) >= c.cfg.FullFor {
		return fmt.Errorf("cannot write %s for %s: %w", s.name(), c.cfg.FullFor, st.err)
	}
	t.SetProblem(fmt.Sprintf("cannot write %s: %v: retrying every %s, failing after %s", s.name(), st.err, c.cfg.WriteRetry, c.cfg.FullFor))
	tor.ResumeWrites()
	return nil
}

// stall is a download stopped by failing writes: since when, the bytes it had then, the error.
type stall struct {
	since time.Time
	have  int64
	err   error
}

func readDone(path string) (doneRecord, bool) {
	var r doneRecord
	b, err := os.ReadFile(path)
	if err != nil || json.Unmarshal(b, &r) != nil {
		return r, false
	}
	return r, true
}

// share finishes a task whose content this host already runs in another torrent: once that one
// is complete, its bytes are copied into this task's destination and checked piece by piece, so
// nothing crosses the network twice; the other torrent goes on seeding for both.
func (c *Client) share(ctx context.Context, t *task.Task, s sink, m content.Meta, other *swarm.Torrent, marker string, finished bool, rec doneRecord) error {
	if !finished {
		t.Log().Info("content already on this host: copying it", "dest", s.name(), "info_hash", m.InfoHash)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.Timeout():
			return fmt.Errorf("distribution %s not complete after the task timeout: waiting for the copy already on this host", t.DistID())
		case <-other.Done():
		}
		if s.name() != other.DataPath() { // else: the copy in place is the one that seeds
			if err := s.copyIn(ctx, other, m); err != nil {
				return err
			}
		}
		rec = doneRecord{InfoHash: m.InfoHash, Dest: s.name(), DoneMs: time.Now().UnixMilli()}
		if err := atomicfile.WriteJSON(marker, rec); err != nil {
			t.Log().Warn("done marker not written", "err", err)
		}
	}
	t.Have.Store(m.Size)
	t.Complete.Store(true)
	t.SetDone(rec.DoneMs)
	t.SetState(api.TaskDone)
	t.Serve(serve.Whole{ReaderAt: other, Size: m.Size})
	<-ctx.Done()
	return nil
}
