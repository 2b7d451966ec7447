package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"dist/core/api"
	"dist/core/content"
	"dist/core/swarm"
)

// doneRecord marks a finished client task, so a restarted daemon seeds from the destination
// instead of fetching again.
type doneRecord struct {
	InfoHash string `json:"info_hash"`
	Dest     string `json:"dest"`
	DoneMs   int64  `json:"done_ms"`
}

// runClient downloads the distribution over BitTorrent, verifies it, moves it into place and seeds.
func (t *task) runClient(ctx context.Context, log *slog.Logger) error {
	if isPluginURI(t.spec.Dest) {
		return t.runClientDevice(ctx, log) // device.go: written in place through a plugin
	}
	t.setState(api.TaskWaiting)
	t.streamBeforeMetainfo(ctx, log) // fast start over HTTP from a relay while a relay hashes the source
	mi, m, err := t.meta(ctx)
	if err != nil {
		return err
	}
	dest := t.destPath()
	dir := t.dir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("task directory %s: %w", dir, err)
	}
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return fmt.Errorf("destination directory %s: %w", filepath.Dir(dest), err)
	}
	marker := filepath.Join(dir, "done.json")

	// Already finished before a restart: seed from the destination.
	if rec, ok := readDone(marker); ok && rec.InfoHash == m.InfoHash && rec.Dest == dest && fileSize(dest) == m.Size {
		tor, err := t.d.node.Add(ctx, swarm.Spec{Metainfo: mi, DataPath: dest, CompletionPath: filepath.Join(dir, "seed.pieces"), Complete: true})
		if err != nil {
			return fmt.Errorf("seed %s: %w", dest, err)
		}
		t.holdTorrent(tor)
		t.complete.Store(true)
		t.have.Store(m.Size)
		t.mu.Lock()
		t.doneAt = rec.DoneMs
		t.mu.Unlock()
		t.setState(api.TaskDone)
		go t.followPeers(ctx, tor)
		t.sample(ctx, tor, nil)
		return nil
	}

	part := filepath.Join(dir, "data.part")
	tor, err := t.d.node.Add(ctx, swarm.Spec{Metainfo: mi, DataPath: part, CompletionPath: filepath.Join(dir, "data.pieces")})
	if err != nil {
		return fmt.Errorf("add torrent %s: %w", m.InfoHash, err)
	}
	t.holdTorrent(tor)
	if t.d.cfg.BTBlocked {
		tor.BlockBT()
	}
	go t.followPeers(ctx, tor)
	assisted := make(chan struct{})
	actx, stopAssist := context.WithCancel(ctx)
	go func() {
		defer close(assisted)
		t.assist(actx, log, tor)
	}()
	defer func() { stopAssist(); <-assisted }() // no HTTP fetch outlives the download
	timeout := t.timeout()
	t.sample(ctx, tor, firstOf(ctx, tor.Done(), timeout))
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timeout:
		return fmt.Errorf("distribution %s not complete after the task timeout of %s: %d of %d bytes here",
			t.spec.DistID, time.Duration(t.settings().TimeoutMs)*time.Millisecond, tor.Stats().Have, m.Size)
	case <-tor.Done():
	}
	st := tor.Stats()
	t.have.Store(st.Have)
	t.bt.Store(st.BytesBT)
	if t.spec.SHA256 != "" {
		got, err := content.SHA256File(ctx, part)
		if err != nil {
			return fmt.Errorf("checksum of %s: %w", part, err)
		}
		if !strings.EqualFold(got, t.spec.SHA256) {
			return checksumError(part, t.spec.SHA256, got)
		}
	}
	if err := tor.Move(dest); err != nil {
		return fmt.Errorf("move into place %s: %w", dest, err)
	}
	t.finished(log, marker, m.InfoHash, dest)
	log.Info("file in place", "dest", dest, "bytes", m.Size, "bt", st.BytesBT)
	t.sample(ctx, tor, nil) // keep seeding and counting uploads
	return nil
}

// finished records a verified copy in place at dest: the marker that lets a restarted daemon seed
// from it, and the done state.
func (t *task) finished(log *slog.Logger, marker, infoHash, dest string) {
	now := time.Now().UnixMilli()
	if err := writeJSONAtomic(marker, doneRecord{InfoHash: infoHash, Dest: dest, DoneMs: now}); err != nil {
		log.Warn("done marker not written", "err", err)
	}
	t.complete.Store(true)
	t.mu.Lock()
	t.doneAt = now
	t.mu.Unlock()
	t.setState(api.TaskDone)
}

func (t *task) holdTorrent(tor *swarm.Torrent) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.tor = tor
}

// destPath is where the finished file goes: the push's destination (a directory when it ends with a
// separator or already is one), else <data>/files/<name>.
func (t *task) destPath() string {
	name := safeName(t.spec.Name)
	dest := t.spec.Dest
	if dest == "" {
		return filepath.Join(t.d.cfg.Data, "files", name)
	}
	if strings.HasSuffix(dest, "/") || strings.HasSuffix(dest, string(os.PathSeparator)) {
		return filepath.Join(dest, name)
	}
	if fi, err := os.Stat(dest); err == nil && fi.IsDir() {
		return filepath.Join(dest, name)
	}
	return dest
}

// followPeers asks the controller's tracker for the swarm and hands new peers to the torrent:
// often at first, when the swarm forms, then every few seconds.
func (t *task) followPeers(ctx context.Context, tor *swarm.Torrent) {
	wait := 300 * time.Millisecond
	for {
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		peers, err := t.d.api.Peers(pctx, t.spec.DistID, t.d.cfg.Name)
		cancel()
		if err == nil {
			addrs := make([]string, 0, len(peers))
			for _, p := range peers {
				if p.BTAddr != "" {
					addrs = append(addrs, p.BTAddr)
				}
			}
			tor.AddPeers(addrs)
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-t.peersKick: // pushed by the controller: new members may be there
		case <-timer.C:
		}
		timer.Stop()
		wait = min(wait*2, 5*time.Second)
	}
}

func readDone(path string) (doneRecord, bool) {
	var r doneRecord
	b, err := os.ReadFile(path)
	if err != nil || json.Unmarshal(b, &r) != nil {
		return r, false
	}
	return r, true
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil || !fi.Mode().IsRegular() {
		return -1
	}
	return fi.Size()
}
