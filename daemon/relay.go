package daemon

import (
	"bytes"
	"context"
	"crypto/sha1"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"dist/core/api"
	"dist/core/content"
	"dist/core/fetch"
	"dist/core/swarm"
)

// pieceRecord persists, per piece, whether the relay has it and its SHA-1, so a restarted relay
// neither refetches nor rehashes what it already pulled. Layout: 21 bytes a piece, flag then hash.
type pieceRecord struct {
	f *os.File
	n int
}

const recSize = 1 + sha1.Size

func openRecord(path string, n int) (*pieceRecord, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("piece record %s: %w", path, err)
	}
	if err := f.Truncate(int64(n * recSize)); err != nil {
		f.Close()
		return nil, fmt.Errorf("piece record %s: %w", path, err)
	}
	return &pieceRecord{f: f, n: n}, nil
}

func (r *pieceRecord) get(i int) (ok bool, hash []byte) {
	b := make([]byte, recSize)
	if _, err := r.f.ReadAt(b, int64(i*recSize)); err != nil || b[0] != 1 {
		return false, nil
	}
	return true, b[1:]
}

func (r *pieceRecord) set(i int, hash []byte) error {
	b := make([]byte, recSize)
	b[0] = 1
	copy(b[1:], hash)
	_, err := r.f.WriteAt(b, int64(i*recSize))
	return err
}

func (r *pieceRecord) close() error { return r.f.Close() }

// pullClient keeps one idle connection per pull worker, so parallel Range requests reuse them.
var pullClient = &http.Client{Transport: &http.Transport{
	Proxy:                 http.ProxyFromEnvironment,
	MaxIdleConnsPerHost:   8,
	ResponseHeaderTimeout: time.Minute,
	IdleConnTimeout:       90 * time.Second,
}}

// runRelay pulls the source with parallel Range requests, hashes pieces as they land, publishes the
// metainfo when the source came without one, and then serves over HTTP and BitTorrent.
func (t *task) runRelay(ctx context.Context, log *slog.Logger) error {
	t.setState(api.TaskDownloading)
	size := t.spec.Size
	var meta *content.Meta
	pieceLen := t.spec.PieceLen
	if len(t.spec.Metainfo) > 0 {
		m, err := content.Parse(t.spec.Metainfo)
		if err != nil {
			return fmt.Errorf("metainfo of %s: %w", t.spec.DistID, err)
		}
		if m.Size != size {
			return fmt.Errorf("metainfo of %s says %d bytes, the source has %d", t.spec.DistID, m.Size, size)
		}
		meta, pieceLen = &m, m.PieceLen
	}
	if pieceLen <= 0 {
		pieceLen = content.PieceLength(size)
	}
	n := int((size + pieceLen - 1) / pieceLen)
	dir := t.dir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("relay directory %s: %w", dir, err)
	}
	dataPath := filepath.Join(dir, safeName(t.spec.Name))
	f, err := os.OpenFile(dataPath, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("relay file %s: %w", dataPath, err)
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		return fmt.Errorf("relay file %s: %w", dataPath, err)
	}
	t.mu.Lock()
	t.file = f
	t.mu.Unlock()
	rec, err := openRecord(filepath.Join(dir, "pull.record"), n)
	if err != nil {
		return err
	}
	defer rec.close()

	// A chunk is a whole number of pieces, at least 4 MiB, so each request is worth its round trip.
	per := max(1, int((4<<20)/pieceLen))
	chunkLen := pieceLen * int64(per)
	pieceSize := func(i int) int64 { return min(pieceLen, size-int64(i)*pieceLen) }
	var had int64
	for i := 0; i < n; i++ {
		if ok, _ := rec.get(i); ok {
			had += pieceSize(i)
		}
	}
	t.have.Store(had)
	if had > 0 {
		log.Info("relay resumes pull", "have", had, "size", size)
	}

	pull := &fetch.Pull{
		URL:     t.spec.Source,
		Client:  pullClient,
		Size:    size,
		Chunk:   chunkLen,
		Workers: 4,
		Dst:     f,
		Have: func(c int) bool {
			for i := c * per; i < min((c+1)*per, n); i++ {
				if ok, _ := rec.get(i); !ok {
					return false
				}
			}
			return true
		},
		OnChunk: func(c int, data []byte) error {
			for k := 0; k < per; k++ {
				i := c*per + k
				if i >= n {
					break
				}
				off := int64(k) * pieceLen
				p := data[off : off+pieceSize(i)]
				h := sha1.Sum(p)
				if meta != nil && !bytes.Equal(h[:], meta.PieceHash(i)) {
					return fmt.Errorf("source %s does not match the published metainfo at piece %d: the file changed after publishing", t.spec.Source, i)
				}
				if err := rec.set(i, h[:]); err != nil {
					return fmt.Errorf("piece record: %w", err)
				}
				t.have.Add(int64(len(p)))
			}
			t.markFirstByte()
			return nil
		},
	}
	pullDone := make(chan struct{})
	go func() {
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			t.httpOrigin.Store(pull.Bytes())
			select {
			case <-pullDone:
				t.httpOrigin.Store(pull.Bytes())
				return
			case <-tick.C:
			}
		}
	}()
	start := time.Now()
	err = pull.Run(ctx)
	close(pullDone)
	if err != nil {
		return fmt.Errorf("pull %s: %w", t.spec.Source, err)
	}
	log.Info("relay pulled source", "bytes", size, "fetched", pull.Bytes(), "took", time.Since(start).Round(time.Millisecond))

	mi := t.spec.Metainfo
	if meta == nil {
		pieces := make([]byte, 0, n*sha1.Size)
		for i := 0; i < n; i++ {
			ok, h := rec.get(i)
			if !ok {
				return fmt.Errorf("pull of %s ended with piece %d missing", t.spec.Source, i)
			}
			pieces = append(pieces, h...)
		}
		mi, _, err = content.Build(safeName(t.spec.Name), size, pieceLen, pieces)
		if err != nil {
			return fmt.Errorf("metainfo of %s: %w", t.spec.DistID, err)
		}
		if err := t.publishMetainfo(ctx, mi); err != nil {
			return err
		}
	}
	t.complete.Store(true)
	tor, err := t.d.node.Add(ctx, swarm.Spec{Metainfo: mi, DataPath: dataPath, CompletionPath: filepath.Join(dir, "bt.pieces"), Complete: true})
	if err != nil {
		return fmt.Errorf("seed %s: %w", dataPath, err)
	}
	t.holdTorrent(tor)
	t.setState(api.TaskSeeding)
	t.sample(ctx, tor, nil)
	return nil
}

// publishMetainfo hands the computed metainfo to the controller, retrying while it is unreachable.
func (t *task) publishMetainfo(ctx context.Context, mi []byte) error {
	for attempt := 1; ; attempt++ {
		pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := t.d.api.PutMetainfo(pctx, t.spec.DistID, mi)
		cancel()
		if err == nil {
			return nil
		}
		var se *api.StatusError
		if errors.As(err, &se) && se.Status/100 == 4 {
			return fmt.Errorf("publish metainfo of %s: %w", t.spec.DistID, err)
		}
		if !sleepCtx(ctx, backoff(attempt)) {
			return ctx.Err()
		}
	}
}

// serveContent answers HTTP Range requests for a distribution this host relays.
func (d *Daemon) serveContent(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	d.mu.Lock()
	var t *task
	for _, x := range d.tasks {
		if x.spec.DistID == id && (x.spec.Role == api.RoleRelay || x.complete.Load()) {
			t = x
			if x.spec.Role == api.RoleRelay {
				break
			}
		}
	}
	d.mu.Unlock()
	if t == nil {
		httpError(w, http.StatusNotFound, api.CodeNotFound, "distribution "+id+" is not served here")
		return
	}
	if !t.complete.Load() {
		w.Header().Set("Retry-After", "2")
		httpError(w, http.StatusServiceUnavailable, "not_ready", "distribution "+id+" is still being pulled")
		return
	}
	t.mu.Lock()
	f := t.file
	name := t.spec.Name
	t.mu.Unlock()
	if f == nil {
		// A finished client serves from its destination file.
		var err error
		f, err = os.Open(t.destPath())
		if err != nil {
			httpError(w, http.StatusNotFound, api.CodeNotFound, "distribution "+id+" is not served here")
			return
		}
		defer f.Close()
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	// A section reader per request: concurrent requests must not share the file's offset.
	http.ServeContent(w, r, name, time.Time{}, io.NewSectionReader(f, 0, t.spec.Size))
}
