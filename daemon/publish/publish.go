// Package publish makes a local file or a device (through an origin-IO plugin) an origin: it
// hashes it once (one read feeding the piece hashes and the whole-file SHA-256, each on its own
// goroutines), seeds it over BitTorrent, serves it over HTTP Range, and remembers it across
// restarts. Files and devices take one path; only opening them differs.
package publish

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"dist/core/api"
	"dist/core/atomicfile"
	"dist/core/content"
	"dist/core/device"
	"dist/core/swarm"
	"dist/daemon/pluginhost"
	"dist/daemon/serve"
)

// Config sets up a publisher.
type Config struct {
	Dir     string // where publications are remembered (<data>/published)
	Host    string // this host's name
	HTTPURL string // this daemon's base URL: published files are served under it
	Node    *swarm.Node
	Devices *pluginhost.Manager
	Logger  *slog.Logger
}

// ErrBadSource wraps the error of a publish request that names something that cannot be
// published (missing, not a regular file, an empty device).
var ErrBadSource = errors.New("cannot publish")

// Publisher holds this host's publications.
type Publisher struct {
	cfg Config

	mu     sync.Mutex
	byHash map[string]*publication
}

// New answers a publisher; Load restores the publications of an earlier run.
func New(cfg Config) *Publisher {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Publisher{cfg: cfg, byHash: map[string]*publication{}}
}

// publication is one published file or device; the exported fields are what is remembered.
type publication struct {
	Path     string `json:"path"`
	Name     string `json:"name"`
	Size     int64  `json:"size"`
	InfoHash string `json:"info_hash"`
	SHA256   string `json:"sha256"`
	Metainfo []byte `json:"metainfo"`
	// What the file was when it was hashed: a restart serves it again only if it is still the
	// same file (or hashes to the same pieces).
	ModTime int64  `json:"mtime_ns,omitempty"`
	Inode   uint64 `json:"inode,omitempty"`

	src source
	tor *swarm.Torrent
}

// source is what is published, opened.
type source struct {
	data io.ReaderAt
	size int64
	dev  device.Device // nil for a file
	done func() error
	// A file's identity when opened.
	modTime int64
	inode   uint64
}

// open opens a local path or a device URI for reading.
func (p *Publisher) open(ctx context.Context, where string) (source, string, error) {
	if pluginhost.IsURI(where) {
		dev, err := p.cfg.Devices.Open(ctx, where, false)
		if err != nil {
			return source{}, "", fmt.Errorf("%w: %w", ErrBadSource, err)
		}
		if dev.Size() <= 0 {
			dev.Close()
			return source{}, "", fmt.Errorf("%w: %s is empty: publish a device with data", ErrBadSource, where)
		}
		return source{data: dev, size: dev.Size(), dev: dev, done: dev.Close}, deviceName(where), nil
	}
	if li, err := os.Lstat(where); err == nil && li.Mode()&os.ModeSymlink != 0 {
		// A link can be pointed elsewhere after it was published: publish what it points to.
		return source{}, "", fmt.Errorf("%w: %s is a symbolic link: publish the file it points to", ErrBadSource, where)
	}
	f, err := os.Open(where)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return source{}, "", fmt.Errorf("%w: no such file: %s", ErrBadSource, where)
		}
		return source{}, "", fmt.Errorf("open %s: %w", where, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return source{}, "", fmt.Errorf("stat %s: %w", where, err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return source{}, "", fmt.Errorf("%w: %s is not a regular file: publish a file", ErrBadSource, where)
	}
	return source{data: f, size: fi.Size(), done: f.Close, modTime: fi.ModTime().UnixNano(), inode: inode(fi)}, filepath.Base(where), nil
}

// deviceName is the file name a device's content gets on targets: the last element of its path.
func deviceName(uri string) string {
	name := "device"
	if u, err := url.Parse(uri); err == nil && path.Base(u.Path) != "/" && path.Base(u.Path) != "." {
		name = path.Base(u.Path)
	}
	return name
}

// Publish hashes req.Path and starts serving it.
func (p *Publisher) Publish(ctx context.Context, req api.Publish) (api.Published, error) {
	where := req.Path
	if !pluginhost.IsURI(where) {
		abs, err := filepath.Abs(where)
		if err != nil {
			return api.Published{}, fmt.Errorf("path %s: %w", where, err)
		}
		where = abs
	}
	src, name, err := p.open(ctx, where)
	if err != nil {
		return api.Published{}, err
	}
	pieceLen := req.PieceLen
	if pieceLen <= 0 {
		pieceLen = content.PieceLength(src.size)
	}
	start := time.Now()
	// One read of the source feeds both the piece hashes and the whole-file SHA-256.
	sums, err := content.Hash(ctx, src.data, src.size, pieceLen, 0)
	if err != nil {
		src.done()
		return api.Published{}, fmt.Errorf("hash %s: %w", where, err)
	}
	sum := sums.SHA256
	m, err := content.New(name, src.size, pieceLen, sums.Pieces, sum)
	if err != nil {
		src.done()
		return api.Published{}, fmt.Errorf("metainfo of %s: %w", where, err)
	}
	_, zero := m.ZeroPieces() // marked in the metainfo: targets write them, nobody sends them
	p.cfg.Logger.Info("published", "path", where, "bytes", src.size, "zero_bytes", zero, "info_hash", m.InfoHash, "took", time.Since(start).Round(time.Millisecond))
	pub := &publication{Path: where, Name: name, Size: src.size, InfoHash: m.InfoHash, SHA256: sum, Metainfo: m.Raw,
		ModTime: src.modTime, Inode: src.inode, src: src}
	kept, err := p.serve(ctx, pub, m)
	if err != nil {
		src.done()
		return api.Published{}, err
	}
	if !kept {
		src.done() // published already: the earlier publication keeps serving
	}
	if err := atomicfile.WriteJSON(filepath.Join(p.cfg.Dir, pub.InfoHash+".json"), pub); err != nil {
		p.cfg.Logger.Warn("publication not persisted", "err", err)
	}
	return api.Published{
		Host: p.cfg.Host, Source: p.cfg.HTTPURL + "/v1/files/" + pub.InfoHash, Name: pub.Name, Size: pub.Size,
		InfoHash: pub.InfoHash, Metainfo: pub.Metainfo, SHA256: pub.SHA256,
	}, nil
}

// serve seeds pub and serves it; false when the same content from the same place is served
// already.
func (p *Publisher) serve(ctx context.Context, pub *publication, m content.Meta) (bool, error) {
	p.mu.Lock()
	old := p.byHash[pub.InfoHash]
	p.mu.Unlock()
	if old != nil && old.Path == pub.Path {
		return false, nil
	}
	tor, err := p.cfg.Node.Add(ctx, swarm.Spec{
		Meta: m, DataPath: pub.Path, Complete: true, ReadOnly: pub.src.dev == nil, Device: pub.src.dev,
		CompletionPath: filepath.Join(p.cfg.Dir, pub.InfoHash+".pieces"),
	})
	if err != nil {
		return false, fmt.Errorf("seed %s: %w", pub.Path, err)
	}
	pub.tor = tor
	p.mu.Lock()
	p.byHash[pub.InfoHash] = pub
	p.mu.Unlock()
	return true, nil
}

// Load restores the publications of an earlier run whose files are unchanged in size.
func (p *Publisher) Load(ctx context.Context) error {
	ents, err := os.ReadDir(p.cfg.Dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("publications %s: %w", p.cfg.Dir, err)
	}
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(p.cfg.Dir, e.Name()))
		if err != nil {
			continue
		}
		var pub publication
		if err := json.Unmarshal(b, &pub); err != nil {
			p.cfg.Logger.Warn("publication dropped: record unreadable", "record", e.Name(), "err", err)
			continue
		}
		m, err := content.Parse(pub.Metainfo)
		if err != nil {
			p.cfg.Logger.Warn("publication dropped: metainfo unreadable", "record", e.Name(), "err", err)
			continue
		}
		src, _, err := p.open(ctx, pub.Path)
		if err == nil && src.size == pub.Size && src.dev == nil && (src.modTime != pub.ModTime || src.inode != pub.Inode) {
			// Touched, or another file in its place: serve it only if it still hashes to the
			// published pieces.
			pieces, herr := content.HashPieces(ctx, src.data, src.size, m.PieceLen, 0)
			if herr != nil || !bytes.Equal(pieces, m.Pieces) {
				err = fmt.Errorf("the file changed since it was published (%v)", herr)
			} else {
				pub.ModTime, pub.Inode = src.modTime, src.inode
				_ = atomicfile.WriteJSON(filepath.Join(p.cfg.Dir, pub.InfoHash+".json"), &pub)
			}
		}
		if err != nil || src.size != pub.Size {
			if src.done != nil {
				src.done()
			}
			p.cfg.Logger.Warn("publication dropped: file missing or changed", "path", pub.Path, "err", err)
			continue
		}
		pub.src = src
		if kept, err := p.serve(ctx, &pub, m); err != nil || !kept {
			src.done()
			if err != nil {
				p.cfg.Logger.Warn("publication not restored", "path", pub.Path, "err", err)
			}
		}
	}
	return nil
}

// File answers the publication under an info hash for the HTTP route.
func (p *Publisher) File(hash string) (serve.File, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	pub := p.byHash[hash]
	if pub == nil {
		return serve.File{}, false
	}
	return serve.File{Name: pub.Name, Size: pub.Size, Data: pub.src.data}, true
}

// Close closes what the publications hold open (their torrents go with the node).
func (p *Publisher) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pub := range p.byHash {
		if pub.src.dev == nil && pub.src.done != nil {
			_ = pub.src.done() // a device is closed by its torrent
		}
	}
}
