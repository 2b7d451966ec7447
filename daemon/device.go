package daemon

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"path/filepath"
	"strings"
	"time"

	"dist/core/api"
	"dist/core/content"
	"dist/core/swarm"
)

// Content that lives in a device reached through an origin-IO plugin (partition:///dev/sdb1):
// published from one, or written into one by a client.

// publishDevice hashes and serves a device as publish does a file.
func (d *Daemon) publishDevice(ctx context.Context, req api.Publish) (api.Published, error) {
	uri := req.Path
	dev, err := d.plugins().openDevice(ctx, uri, false)
	if err != nil {
		return api.Published{}, badSource{err}
	}
	size := dev.Size()
	if size <= 0 {
		dev.Close()
		return api.Published{}, badSource{fmt.Errorf("%s is empty: publish a device with data", uri)}
	}
	pieceLen := req.PieceLen
	if pieceLen <= 0 {
		pieceLen = content.PieceLength(size)
	}
	start := time.Now()
	sumc := make(chan error, 1)
	var sum string
	go func() {
		var err error
		sum, err = sha256Of(ctx, dev, size)
		sumc <- err
	}()
	pieces, err := content.HashPieces(ctx, dev, size, pieceLen, 0)
	if serr := <-sumc; err == nil && serr != nil {
		err = serr
	}
	if err != nil {
		dev.Close()
		return api.Published{}, fmt.Errorf("hash %s: %w", uri, err)
	}
	name := deviceName(uri)
	mi, ih, err := content.Build(name, size, pieceLen, pieces)
	if err != nil {
		dev.Close()
		return api.Published{}, fmt.Errorf("metainfo of %s: %w", uri, err)
	}
	d.log.Info("published device", "uri", uri, "bytes", size, "info_hash", ih, "took", time.Since(start).Round(time.Millisecond))
	p := &published{Path: uri, Name: name, Size: size, InfoHash: ih, SHA256: sum, Metainfo: mi, dev: dev}
	if err := d.servePublication(ctx, p); err != nil {
		dev.Close()
		return api.Published{}, err
	}
	if p.tor == nil {
		dev.Close() // published already: the earlier publication keeps serving
	}
	return d.remember(p), nil
}

// restoreDevice reopens the device of an earlier run's publication; false when it is gone or
// changed size.
func (d *Daemon) restoreDevice(ctx context.Context, p *published) bool {
	dev, err := d.plugins().openDevice(ctx, p.Path, false)
	if err != nil {
		d.log.Warn("publication dropped: device not opened", "uri", p.Path, "err", err)
		return false
	}
	if dev.Size() != p.Size {
		dev.Close()
		d.log.Warn("publication dropped: device changed size", "uri", p.Path)
		return false
	}
	p.dev = dev
	return true
}

// device answers the publication's device for swarm.Spec: nil (no interface value) for a file.
func (p *published) device() swarm.Device {
	if p.dev == nil {
		return nil
	}
	return p.dev
}

// serveDevice answers HTTP Range requests from a published device.
func serveDevice(w http.ResponseWriter, r *http.Request, p *published) {
	w.Header().Set("Content-Type", "application/octet-stream")
	http.ServeContent(w, r, p.Name, time.Time{}, io.NewSectionReader(p.dev, 0, p.Size))
}

// deviceName is the file name a device's content gets on targets: the last element of its path.
func deviceName(uri string) string {
	name := "device"
	if u, err := url.Parse(uri); err == nil && path.Base(u.Path) != "/" && path.Base(u.Path) != "." {
		name = path.Base(u.Path)
	}
	return name
}

func sha256Of(ctx context.Context, r io.ReaderAt, size int64) (string, error) {
	h := sha256.New()
	sr := io.NewSectionReader(r, 0, size)
	buf := make([]byte, 1<<20)
	for {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		n, err := sr.Read(buf)
		h.Write(buf[:n])
		if err == io.EOF {
			return hex.EncodeToString(h.Sum(nil)), nil
		}
		if err != nil {
			return "", err
		}
	}
}

// runClientDevice is runClient for a destination URI: the pieces are written straight into the
// device through its plugin. There is no atomic move for a device, so the order is: all pieces
// verified, the whole-content sha256 checked when the push gave one, then a sync, then done.
//
// "{host}" in the URI becomes the host's name, for hosts whose targets differ by name.
func (t *task) runClientDevice(ctx context.Context, log *slog.Logger) error {
	uri := strings.ReplaceAll(t.spec.Dest, "{host}", t.d.cfg.Name)
	t.setState(api.TaskWaiting)
	mi, m, err := t.meta(ctx)
	if err != nil {
		return err
	}
	dir := t.dir()
	marker := filepath.Join(dir, "done.json")
	dev, err := t.d.plugins().openDevice(ctx, uri, true)
	if err != nil {
		return fmt.Errorf("destination %s: %w", uri, err)
	}
	rec, finished := readDone(marker)
	finished = finished && rec.InfoHash == m.InfoHash && rec.Dest == uri
	tor, err := t.d.node.Add(ctx, swarm.Spec{Metainfo: mi, DataPath: uri, Device: dev,
		CompletionPath: filepath.Join(dir, "data.pieces"), Complete: finished})
	if err != nil {
		dev.Close()
		return fmt.Errorf("destination %s: %w", uri, err)
	}
	t.holdTorrent(tor)
	if finished {
		// Written before a restart: seed from the device.
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
	if t.d.cfg.BTBlocked {
		tor.BlockBT()
	}
	go t.followPeers(ctx, tor)
	actx, stopAssist := context.WithCancel(ctx)
	assisted := make(chan struct{})
	go func() {
		defer close(assisted)
		t.assist(actx, log, tor)
	}()
	defer func() { stopAssist(); <-assisted }()
	timeout := t.timeout()
	go t.sample(actx, tor, firstOf(actx, tor.Done(), timeout))
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timeout:
		return fmt.Errorf("distribution %s not complete after the task timeout: %d of %d bytes in %s",
			t.spec.DistID, tor.Stats().Have, m.Size, uri)
	case <-dev.Failed():
		// The plugin crashed, hung or refused: the pieces already verified stay recorded, so a
		// retried task resumes; this one fails with the plugin's words.
		tor.Drop(false)
		return fmt.Errorf("destination %s: %w", uri, dev.Err())
	case <-tor.Done():
	}
	stopAssist()
	<-assisted
	st := tor.Stats()
	t.have.Store(st.Have)
	t.bt.Store(st.BytesBT)
	if t.spec.SHA256 != "" {
		got, err := sha256Of(ctx, dev, m.Size)
		if err != nil {
			return fmt.Errorf("checksum of %s: %w", uri, err)
		}
		if !strings.EqualFold(got, t.spec.SHA256) {
			return checksumError(uri, t.spec.SHA256, got)
		}
	}
	if err := dev.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", uri, err)
	}
	t.finished(log, marker, m.InfoHash, uri)
	log.Info("written into device", "dest", uri, "bytes", m.Size, "bt", st.BytesBT)
	t.sample(ctx, tor, nil) // keep seeding and counting uploads
	return nil
}
