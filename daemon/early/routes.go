package early

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"dist/core/api"
	"dist/daemon/serve"
)

// entryLen is one landing in a hashes answer: the piece index (4 bytes, big-endian), its SHA-1.
const entryLen = 4 + 20

// A have frame is the bitmap's version (8 bytes, big-endian) and then the bitmap; haveFrame
// answers its length for a file of n pieces.
func haveFrame(n int) int { return 8 + len(newBits(n)) }

// sourceOf answers the relay's side of the request's distribution, or answers 404 and nil.
func (r *Registry) sourceOf(w http.ResponseWriter, req *http.Request) *Source {
	id := req.PathValue("id")
	s := r.source(id)
	if s == nil {
		serve.Error(w, http.StatusNotFound, api.CodeNotFound, "distribution "+id+" is not pulled here")
	}
	return s
}

// holderOf answers what serves have and piece for the request's distribution, or answers 404
// and nil.
func (r *Registry) holderOf(w http.ResponseWriter, req *http.Request) holder {
	id := req.PathValue("id")
	h := r.holder(id)
	if h == nil {
		serve.Error(w, http.StatusNotFound, api.CodeNotFound, "distribution "+id+" is not exchanged here")
	}
	return h
}

func (r *Registry) hashes(w http.ResponseWriter, req *http.Request) {
	s := r.sourceOf(w, req)
	if s == nil {
		return
	}
	from, err := strconv.Atoi(req.URL.Query().Get("from"))
	if err != nil || from < 0 {
		from = 0
	}
	ctx, cancel := context.WithTimeout(req.Context(), r.cfg.Wait)
	defer cancel()
	idx, hs, next := s.since(ctx, from)
	geometry(w, s)
	w.Header().Set(hdrNext, strconv.Itoa(next))
	w.Header().Set("Content-Type", "application/octet-stream")
	body := make([]byte, 0, len(idx)*entryLen)
	for k, i := range idx {
		body = binary.BigEndian.AppendUint32(body, uint32(i))
		body = append(body, hs[k][:]...)
	}
	_, _ = w.Write(body)
}

func (r *Registry) take(w http.ResponseWriter, req *http.Request) {
	s := r.sourceOf(w, req)
	if s == nil {
		return
	}
	want := len(newBits(s.n))
	has := make(bits, want+1) // one byte more: a longer body is refused too
	if n, _ := io.ReadFull(http.MaxBytesReader(w, req.Body, int64(want)+1), has); n != want {
		serve.Error(w, http.StatusBadRequest, api.CodeBadRequest,
			"take: the body must be the have bitmap of "+strconv.Itoa(s.n)+" pieces ("+strconv.Itoa(want)+" bytes)")
		return
	}
	has = has[:want]
	ctx, cancel := context.WithTimeout(req.Context(), r.cfg.TakeWait)
	i, h, ok := s.give(ctx, has, req.URL.Query().Get("need") == "1")
	cancel()
	if !ok {
		w.WriteHeader(http.StatusNoContent) // nothing to give yet: ask again
		return
	}
	geometry(w, s)
	w.Header().Set(hdrPiece, strconv.Itoa(i))
	w.Header().Set(hdrHash, hex.EncodeToString(h[:]))
	if err := send(req.Context(), w, s, i); err != nil {
		s.ungive(i) // it did not arrive: let it count as not given
	}
}

// have streams the holder's have bitmap: a frame (see haveFrame) each time it changed since the
// last one sent — the first once it differs from version v — until Wait passes or every piece
// is here. One answer carries every change of a peer for Wait: a change costs a frame, not a
// request.
func (r *Registry) have(w http.ResponseWriter, req *http.Request) {
	h := r.holderOf(w, req)
	if h == nil {
		return
	}
	v, _ := strconv.ParseUint(req.URL.Query().Get("v"), 10, 64)
	ctx, cancel := context.WithTimeout(req.Context(), r.cfg.Wait)
	defer cancel()
	bk := h.book()
	geometry(w, h)
	w.Header().Set("Content-Type", "application/octet-stream")
	rc := http.NewResponseController(w)
	frame := make([]byte, 0, haveFrame(bk.n))
	for {
		ver := bk.waitChange(ctx, v)
		if ver == v {
			return // Wait passed without a change: the peer asks again
		}
		if r.cfg.Coalesce > 0 {
			// One frame for the pieces that land close together: fewer frames, same delay bound.
			t := time.NewTimer(r.cfg.Coalesce)
			select {
			case <-t.C:
			case <-ctx.Done():
			}
			t.Stop()
		}
		b, ver, full := bk.snapshotFull()
		frame = append(binary.BigEndian.AppendUint64(frame[:0], ver), b...)
		if _, err := w.Write(frame); err != nil {
			return
		}
		if rc.Flush() != nil || full || ctx.Err() != nil {
			return
		}
		v = ver
	}
}

func (r *Registry) piece(w http.ResponseWriter, req *http.Request) {
	h := r.holderOf(w, req)
	if h == nil {
		return
	}
	i, err := strconv.Atoi(req.PathValue("i"))
	if err != nil || !h.book().has(i) {
		serve.Error(w, http.StatusNotFound, api.CodeNotFound, "piece "+req.PathValue("i")+" of "+req.PathValue("id")+" is not here")
		return
	}
	geometry(w, h)
	_ = send(req.Context(), w, h, i)
}

func geometry(w http.ResponseWriter, h holder) {
	size, pieceLen := h.geometry()
	w.Header().Set(hdrSize, strconv.FormatInt(size, 10))
	w.Header().Set(hdrPieceLen, strconv.FormatInt(pieceLen, 10))
}

// sendStep is how much of a piece is read and written at once: small enough that a paced read
// never bursts far above the host's upload budget.
const sendStep = 256 << 10

var stepPool = sync.Pool{New: func() any { b := make([]byte, sendStep); return &b }}

// send writes piece i of h as the answer's body.
func send(ctx context.Context, w http.ResponseWriter, h holder, i int) error {
	size, pieceLen := h.geometry()
	off := int64(i) * pieceLen
	n := min(pieceLen, size-off)
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
	bp := stepPool.Get().(*[]byte)
	defer stepPool.Put(bp)
	buf := *bp
	read, up := h.reader(), h.upload()
	for n > 0 {
		k, err := read(ctx, buf[:min(int64(len(buf)), n)], off)
		if k == 0 && err == nil {
			err = io.ErrUnexpectedEOF
		}
		if k > 0 {
			if _, werr := w.Write(buf[:k]); werr != nil {
				return werr
			}
			countUp(up, k)
			off += int64(k)
			n -= int64(k)
		}
		if err != nil && n > 0 {
			return err // the answer is cut short: the client sees a short body and asks again
		}
	}
	return nil
}

func countUp(up *atomic.Int64, n int) {
	if up != nil {
		up.Add(int64(n))
	}
}

// errShort is a piece answer that ended before the piece did.
var errShort = errors.New("piece answer cut short")
