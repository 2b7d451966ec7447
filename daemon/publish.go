package daemon

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"dist/core/api"
	"dist/core/content"
	"dist/core/swarm"
)

// published is a local file this daemon serves as an origin (HTTP) and a seed (BitTorrent).
type published struct {
	Path     string `json:"path"`
	Name     string `json:"name"`
	Size     int64  `json:"size"`
	InfoHash string `json:"info_hash"`
	SHA256   string `json:"sha256"`
	Metainfo []byte `json:"metainfo"`
	tor      *swarm.Torrent
	dev      *pluginDevice // set when Path is a plugin URI (device.go)
}

func (d *Daemon) publishedDir() string { return filepath.Join(d.cfg.Data, "published") }

// badSource is a publish request that names something that cannot be published.
type badSource struct{ error }

// publish hashes a local file (pieces in parallel on every core, the whole-file sha256 beside
// them), starts seeding it and serving it over HTTP, and remembers it across restarts.
func (d *Daemon) publish(ctx context.Context, req api.Publish) (api.Published, error) {
	if isPluginURI(req.Path) {
		return d.publishDevice(ctx, req)
	}
	path, err := filepath.Abs(req.Path)
	if err != nil {
		return api.Published{}, fmt.Errorf("path %s: %w", req.Path, err)
	}
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return api.Published{}, badSource{fmt.Errorf("no such file: %s", path)}
		}
		return api.Published{}, fmt.Errorf("open %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return api.Published{}, fmt.Errorf("stat %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return api.Published{}, badSource{fmt.Errorf("%s is not a regular file: publish a file", path)}
	}
	size := fi.Size()
	pieceLen := req.PieceLen
	if pieceLen <= 0 {
		pieceLen = content.PieceLength(size)
	}
	start := time.Now()
	sumc := make(chan error, 1)
	var sum string
	go func() {
		h := sha256.New()
		_, err := io.Copy(h, io.NewSectionReader(f, 0, size))
		sum = hex.EncodeToString(h.Sum(nil))
		sumc <- err
	}()
	pieces, err := content.HashPieces(ctx, f, size, pieceLen, 0)
	if serr := <-sumc; err == nil && serr != nil {
		err = serr
	}
	if err != nil {
		return api.Published{}, fmt.Errorf("hash %s: %w", path, err)
	}
	name := filepath.Base(path)
	mi, ih, err := content.Build(name, size, pieceLen, pieces)
	if err != nil {
		return api.Published{}, fmt.Errorf("metainfo of %s: %w", path, err)
	}
	d.log.Info("published local file", "path", path, "bytes", size, "info_hash", ih, "took", time.Since(start).Round(time.Millisecond))
	p := &published{Path: path, Name: name, Size: size, InfoHash: ih, SHA256: sum, Metainfo: mi}
	if err := d.servePublication(ctx, p); err != nil {
		return api.Published{}, err
	}
	return d.remember(p), nil
}

// remember persists a publication so a restarted daemon serves it again, and answers with what a
// push needs.
func (d *Daemon) remember(p *published) api.Published {
	if err := writeJSONAtomic(filepath.Join(d.publishedDir(), p.InfoHash+".json"), p); err != nil {
		d.log.Warn("publication not persisted", "err", err)
	}
	return api.Published{
		Host: d.cfg.Name, Source: d.httpURL + "/v1/files/" + p.InfoHash, Name: p.Name, Size: p.Size,
		InfoHash: p.InfoHash, Metainfo: p.Metainfo, SHA256: p.SHA256,
	}
}

func (d *Daemon) servePublication(ctx context.Context, p *published) error {
	d.mu.Lock()
	old := d.published[p.InfoHash]
	d.mu.Unlock()
	if old != nil && old.Path == p.Path {
		return nil
	}
	tor, err := d.node.Add(ctx, swarm.Spec{
		Metainfo: p.Metainfo, DataPath: p.Path, Complete: true, Device: p.device(),
		CompletionPath: filepath.Join(d.publishedDir(), p.InfoHash+".pieces"),
	})
	if err != nil {
		return fmt.Errorf("seed %s: %w", p.Path, err)
	}
	p.tor = tor
	d.mu.Lock()
	d.published[p.InfoHash] = p
	d.mu.Unlock()
	return nil
}

// loadPublished restores the publications of an earlier run whose files are unchanged in size.
func (d *Daemon) loadPublished(ctx context.Context) error {
	ents, err := os.ReadDir(d.publishedDir())
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(d.publishedDir(), e.Name()))
		if err != nil {
			continue
		}
		var p published
		if json.Unmarshal(b, &p) == nil && isPluginURI(p.Path) {
			if d.restoreDevice(ctx, &p) {
				if err := d.servePublication(ctx, &p); err != nil {
					d.log.Warn("publication not restored", "path", p.Path, "err", err)
				}
			}
			continue
		}
		if json.Unmarshal(b, &p) != nil || fileSize(p.Path) != p.Size {
			d.log.Warn("publication dropped: file missing or changed", "record", e.Name())
			continue
		}
		if err := d.servePublication(ctx, &p); err != nil {
			d.log.Warn("publication not restored", "path", p.Path, "err", err)
		}
	}
	return nil
}

// servePublished answers HTTP Range requests for a published local file.
func (d *Daemon) servePublished(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	p := d.published[r.PathValue("hash")]
	d.mu.Unlock()
	if p == nil {
		httpError(w, http.StatusNotFound, api.CodeNotFound, "no file published under "+r.PathValue("hash"))
		return
	}
	if p.dev != nil {
		serveDevice(w, r, p)
		return
	}
	f, err := os.Open(p.Path)
	if err != nil {
		httpError(w, http.StatusNotFound, api.CodeNotFound, "published file is gone: "+p.Path)
		return
	}
	defer f.Close()
	w.Header().Set("Content-Type", "application/octet-stream")
	http.ServeContent(w, r, p.Name, time.Time{}, io.NewSectionReader(f, 0, p.Size))
}

func httpError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(api.Error{Error: msg, Code: code})
}
