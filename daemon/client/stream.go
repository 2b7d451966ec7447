package client

import (
	"context"
	"crypto/sha1"
	"fmt"
	"os"
	"time"

	"golang.org/x/time/rate"

	"dist/core/api"
	"dist/core/content"
	"dist/core/fetch"
	"dist/core/retry"
	"dist/core/swarm"
	"dist/daemon/task"
)

// streamBeforeMetainfo fetches the file in order over HTTP from a relay while the metainfo is
// unknown (a relay is still hashing a URL source), writing it into the partial file the torrent
// will use and recording each whole piece with its hash in the piece record (the relay cuts
// pieces by the same rule). When the metainfo arrives the stream stops and the record is bound to
// it: the pieces whose hashes match stay complete, and the torrent is added over that file and
// fetches only the rest, without a second pass over the bytes. A restarted stream goes on from
// the first piece it does not have. It returns once the metainfo is known or ctx ends; a failed
// stream only costs the fast start.
func streamBeforeMetainfo(ctx context.Context, t *task.Task) {
	select {
	case <-t.MetaKnown():
		return
	default:
	}
	spec := t.Spec()
	size := spec.Size
	if size <= 0 {
		return
	}
	log := t.Log()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-t.MetaKnown():
			cancel()
		case <-ctx.Done():
		}
	}()
	if err := os.MkdirAll(t.Dir(), 0o755); err != nil {
		log.Warn("no stream before metainfo", "err", fmt.Errorf("task directory %s: %w", t.Dir(), err))
		return
	}
	part := partPath(t)
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
	pieceLen := spec.PieceLen
	if pieceLen <= 0 {
		pieceLen = content.PieceLength(size)
	}
	n := int((size + pieceLen - 1) / pieceLen)
	rec, err := swarm.OpenRecord(log, recordPath(t), n, [sha1.Size]byte{}, f.Sync)
	if err != nil {
		log.Warn("no stream before metainfo", "err", err)
		return
	}
	defer rec.Close()
	first := 0
	for first < n && rec.Complete(first) {
		first++
	}
	w := &streamWriter{ctx: ctx, t: t, f: f, off: int64(first) * pieceLen,
		pieces: content.Pieces{Size: size, PieceLen: pieceLen, Done: func(i int, sum [sha1.Size]byte) {
			rec.MarkComplete(i, sum[:])
		}}}
	w.pieces.From(first)
	if first > 0 {
		t.Have.Store(w.off)
		log.Info("stream resumes", "from", w.off, "size", size)
	}
	if bps := t.Settings().MaxSpeed; bps > 0 {
		w.limit = rate.NewLimiter(rate.Limit(bps), int(max(bps, 64<<10)))
	}
	before := w.off
	for failures := 0; w.off < size && ctx.Err() == nil; {
		src := streamSource(t)
		if src == "" {
			failures++
			if !waitPeers(ctx, t, retry.Backoff(failures)) {
				break
			}
			continue
		}
		from := w.off
		_, err := fetch.GetRange(ctx, t.Env().Pull, src, w.off, size-w.off, w)
		if err == nil || ctx.Err() != nil {
			break
		}
		if w.off > from {
			failures = 0 // it was making progress: retry after the shortest back-off
		}
		failures++
		log.Debug("stream from relay interrupted", "from", src, "at", w.off, "err", err)
		if !retry.Sleep(ctx, retry.Backoff(failures)) {
			break
		}
	}
	if w.off == before {
		return
	}
	log.Info("streamed before metainfo", "bytes", w.off-before, "size", size)
	<-ctx.Done() // the metainfo came (at once unless the whole file came first), or the task ends
	m, ok := t.MetaNow()
	if !ok {
		return // stopped before the metainfo: the record keeps the hashes for the next run
	}
	if m.Size != size || m.PieceLen != pieceLen {
		log.Warn("streamed pieces not kept, they are fetched again",
			"err", fmt.Errorf("metainfo cuts %d bytes in pieces of %d, the stream hashed %d in pieces of %d", m.Size, m.PieceLen, size, pieceLen))
		return
	}
	rec.Flush()
	kept, err := rec.Bind(m)
	if err != nil {
		log.Warn("streamed pieces not recorded, they are hashed again", "err", err)
		return
	}
	log.Debug("streamed pieces kept", "pieces", kept)
}

// waitPeers waits d, or less when the swarm's view changes (a relay may have appeared).
func waitPeers(ctx context.Context, t *task.Task, d time.Duration) bool {
	_, changed := t.Peers().List()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-changed:
	case <-timer.C:
	}
	return true
}

// streamSource returns the content URL of the first relay (or finished peer) the controller's
// tracker lists for the distribution, or "" when there is none yet.
func streamSource(t *task.Task) string {
	peers, _ := t.Peers().List()
	for _, p := range peers { // complete peers first, then relays: the tracker's order
		if (p.Relay || p.Complete) && p.HTTPURL != "" {
			return t.Peers().ContentURL(p)
		}
	}
	return ""
}

// streamWriter puts streamed bytes at their place in the partial file, counts them as bytes from
// a relay over HTTP, and records every whole piece with its hash.
type streamWriter struct {
	ctx    context.Context
	t      *task.Task
	f      *os.File
	off    int64
	limit  *rate.Limiter  // the push's max HTTP speed; nil: none
	pieces content.Pieces // records every whole piece with its hash
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
		w.off += int64(n)
		_, _ = w.pieces.Write(p[:n]) // the stream never runs past the file's end
		if n > 0 {
			w.t.HTTPRelay.Add(int64(n))
			w.t.Have.Add(int64(n))
			w.t.MarkFirstByte()
			w.t.SetStateIf(api.TaskWaiting, api.TaskDownloading)
		}
		if err != nil {
			return done, err
		}
	}
	return done, nil
}
