package daemon

import (
	"bytes"
	"context"
	"crypto/sha1"
	"fmt"
	"hash"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"dist/core/api"
	"dist/core/content"
	"dist/core/fetch"
	"dist/core/swarm"
)

// streamBeforeMetainfo fetches the file in order over HTTP from a relay while the metainfo is
// unknown (a relay is still hashing a URL source), writing it into the partial file the torrent
// will use and hashing its pieces on the way (the relay cuts pieces by the same rule). When the
// metainfo arrives the stream stops, and the pieces whose hashes match are recorded complete: the
// torrent is added over that file and fetches only the rest, without a second pass over the
// bytes. It returns once the metainfo is known or ctx ends; a failed stream only costs the fast
// start.
func (t *task) streamBeforeMetainfo(ctx context.Context, log *slog.Logger) {
	select {
	case <-t.metaSet:
		return
	default:
	}
	size := t.spec.Size
	if size <= 0 {
		return
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-t.metaSet:
			cancel()
		case <-ctx.Done():
		}
	}()
	if err := os.MkdirAll(t.dir(), 0o755); err != nil {
		log.Warn("no stream before metainfo", "err", fmt.Errorf("task directory %s: %w", t.dir(), err))
		return
	}
	part := filepath.Join(t.dir(), "data.part")
	f, err := os.OpenFile(part, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		log.Warn("no stream before metainfo", "err", fmt.Errorf("partial file %s: %w", part, err))
		return
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		log.Warn("no stream before metainfo", "err", fmt.Errorf("partial file %s: %w", part, err))
		return
	}
	pieceLen := t.spec.PieceLen
	if pieceLen <= 0 {
		pieceLen = content.PieceLength(size)
	}
	w := &streamWriter{ctx: ctx, t: t, f: f, size: size, pieceLen: pieceLen, h: sha1.New()}
	if bps := t.settings().MaxSpeed; bps > 0 {
		w.limit = rate.NewLimiter(rate.Limit(bps), int(max(bps, 64<<10)))
	}
	for failures := 0; w.off < size && ctx.Err() == nil; {
		src := t.streamSource(ctx)
		if src == "" {
			failures++
			if !sleepCtx(ctx, backoff(failures)) {
				break
			}
			continue
		}
		before := w.off
		_, err := fetch.GetRange(ctx, pullClient, src, w.off, size-w.off, w)
		if err == nil || ctx.Err() != nil {
			break
		}
		if w.off > before {
			failures = 0 // it was making progress: retry after the shortest back-off
		}
		failures++
		log.Debug("stream from relay interrupted", "from", src, "at", w.off, "err", err)
		if !sleepCtx(ctx, backoff(failures)) {
			break
		}
	}
	if w.off == 0 {
		return
	}
	log.Info("streamed before metainfo", "bytes", w.off, "size", size)
	select {
	case <-t.metaSet: // at once unless the whole file came first
	case <-ctx.Done():
	}
	t.mu.Lock()
	mi := t.spec.Metainfo
	t.mu.Unlock()
	if len(mi) == 0 {
		return // stopped before the metainfo: the torrent hashes the file when it is added
	}
	if err := w.record(mi, filepath.Join(t.dir(), "data.pieces")); err != nil {
		log.Warn("streamed pieces not recorded, they are hashed again", "err", err)
	}
}

// streamSource returns the content URL of the first relay (or finished peer) the controller's
// tracker lists for the distribution, or "" when there is none yet.
func (t *task) streamSource(ctx context.Context) string {
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	peers, err := t.d.api.Peers(pctx, t.spec.DistID, t.d.cfg.Name)
	cancel()
	if err != nil {
		return ""
	}
	for _, p := range peers { // complete peers first, then relays: the tracker's order
		if (p.Relay || p.Complete) && p.HTTPURL != "" {
			return strings.TrimRight(p.HTTPURL, "/") + api.ContentPath(t.spec.DistID)
		}
	}
	return ""
}

// streamWriter puts streamed bytes at their place in the partial file and counts them as bytes
// from a relay over HTTP.
type streamWriter struct {
	ctx   context.Context
	t     *task
	f     *os.File
	off   int64
	limit *rate.Limiter // the push's max HTTP speed; nil: none

	size, pieceLen int64
	h              hash.Hash         // SHA-1 of the bytes of the current piece so far
	sums           [][sha1.Size]byte // SHA-1 of every whole piece written, in order
}

func (w *streamWriter) Write(b []byte) (int, error) {
	done := 0
	for done < len(b) {
		p := b[done:]
		if w.limit != nil {
			p = p[:min(len(p), w.limit.Burst())]
			if err := w.limit.WaitN(w.ctx, len(p)); err != nil {
				return done, err
			}
		}
		n, err := w.f.WriteAt(p, w.off)
		done += n
		w.hash(p[:n])
		if n > 0 {
			w.t.httpRelay.Add(int64(n))
			w.t.have.Add(int64(n))
			w.t.markFirstByte()
			w.t.setStateIf(api.TaskWaiting, api.TaskDownloading)
		}
		if err != nil {
			return done, err
		}
	}
	return done, nil
}

// hash feeds written bytes, which always continue at w.off, to the hash of their piece.
func (w *streamWriter) hash(b []byte) {
	for len(b) > 0 {
		end := min(int64(len(w.sums)+1)*w.pieceLen, w.size)
		k := min(int64(len(b)), end-w.off)
		w.h.Write(b[:k])
		w.off += k
		b = b[k:]
		if w.off == end {
			w.sums = append(w.sums, [sha1.Size]byte(w.h.Sum(nil)))
			w.h.Reset()
		}
	}
}

// record writes the torrent's completion record: streamed pieces whose hash matches the metainfo
// are complete, every other piece is fetched.
func (w *streamWriter) record(mi []byte, path string) error {
	m, err := content.Parse(mi)
	if err != nil {
		return err
	}
	if m.Size != w.size || m.PieceLen != w.pieceLen {
		return fmt.Errorf("metainfo cuts %d bytes in pieces of %d, the stream hashed %d in pieces of %d", m.Size, m.PieceLen, w.size, w.pieceLen)
	}
	if err := w.f.Sync(); err != nil {
		return fmt.Errorf("partial file: %w", err)
	}
	return swarm.WriteCompletion(mi, path, func(i int) bool {
		return i < len(w.sums) && bytes.Equal(w.sums[i][:], m.PieceHash(i))
	})
}
