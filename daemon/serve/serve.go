// Package serve answers HTTP Range requests for what a host holds: the distributions it relays
// (also while the relay still pulls them: a request for bytes not here yet waits for them) or has
// finished as a client, and the files it publishes. It also holds the one JSON error writer of
// the host's HTTP routes.
package serve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"dist/core/api"
	"dist/daemon/task"
)

// Config sets up the content routes.
type Config struct {
	// Wait bounds how long a request waits for bytes a relay does not have yet. It stays under the
	// pull client's header timeout, so a relay pulling from another relay gets an answer.
	Wait time.Duration
}

// DefaultWait is Config.Wait's default.
const DefaultWait = 45 * time.Second

// ErrFailed, wrapped in an error from task.Content.Ready, says the content will never come (the
// relay's pull gave up): the request is answered 502.
var ErrFailed = errors.New("the relay's pull failed")

// Lookup answers the task whose content the host serves for a distribution (its relay task
// first, else a finished client task), or nil.
type Lookup func(distID string) *task.Task

// Content answers GET and HEAD /v1/content/{id}.
func Content(cfg Config, lookup Lookup) http.HandlerFunc {
	if cfg.Wait <= 0 {
		cfg.Wait = DefaultWait
	}
	return func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		t := lookup(id)
		if t == nil {
			Error(w, http.StatusNotFound, api.CodeNotFound, "distribution "+id+" is not served here")
			return
		}
		c, tctx := t.Served()
		spec := t.Spec()
		if c == nil {
			if spec.Role == api.RoleRelay {
				// The relay task is starting: its file is not open yet.
				w.Header().Set("Retry-After", "1")
				Error(w, http.StatusServiceUnavailable, "not_ready", "distribution "+id+" is starting on this relay: retry")
				return
			}
			Error(w, http.StatusNotFound, api.CodeNotFound, "distribution "+id+" is not served here")
			return
		}
		// A request waits no longer than the task runs: a stopping relay lets its readers go.
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		if tctx != nil {
			defer context.AfterFunc(tctx, cancel)()
		}
		size := spec.Size
		w.Header().Set("Content-Type", "application/octet-stream")
		if r.Method == http.MethodGet {
			if off := rangeStart(r.Header.Get("Range"), size); off < size {
				wctx, wcancel := context.WithTimeout(ctx, cfg.Wait)
				_, err := c.Ready(wctx, off)
				wcancel()
				switch {
				case err == nil:
				case ctx.Err() != nil:
					return // the caller or the task is gone
				case errors.Is(err, ErrFailed):
					Error(w, http.StatusBadGateway, api.CodeSource, "distribution "+id+": "+err.Error())
					return
				default:
					w.Header().Set("Retry-After", "2")
					Error(w, http.StatusServiceUnavailable, "not_ready",
						fmt.Sprintf("distribution %s: byte %d has not reached this relay within %s: retry", id, off, cfg.Wait))
					return
				}
			}
		}
		// Bytes are sent as they land; content that fails mid-body cuts the answer short. A
		// section reader per request: concurrent requests must not share an offset.
		rd := waiting{ctx: ctx, c: c, size: size, wait: cfg.Wait}
		http.ServeContent(counting{ResponseWriter: w, n: &t.HTTPUp}, r, spec.Name, time.Time{}, io.NewSectionReader(rd, 0, size))
	}
}

// counting counts the body bytes a task serves over HTTP: they are part of its upload.
type counting struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (c counting) Write(b []byte) (int, error) {
	n, err := c.ResponseWriter.Write(b)
	c.n.Add(int64(n))
	return n, err
}

// waiting reads content, waiting for bytes that have not landed yet.
type waiting struct {
	ctx  context.Context
	c    task.Content
	size int64
	wait time.Duration
}

func (r waiting) ReadAt(b []byte, off int64) (int, error) {
	if off >= r.size {
		return 0, io.EOF
	}
	ctx, cancel := context.WithTimeout(r.ctx, r.wait)
	avail, err := r.c.Ready(ctx, off)
	cancel()
	if err != nil {
		return 0, err
	}
	return r.c.ReadAt(b[:min(int64(len(b)), avail)], off)
}

// File is a published file as the route needs it.
type File struct {
	Name string
	Size int64
	Data io.ReaderAt
}

// Files answers the published file under an info hash.
type Files func(hash string) (File, bool)

// Published answers GET and HEAD /v1/files/{hash}.
func Published(files Files) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		f, ok := files(r.PathValue("hash"))
		if !ok {
			Error(w, http.StatusNotFound, api.CodeNotFound, "no file published under "+r.PathValue("hash"))
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		http.ServeContent(w, r, f.Name, time.Time{}, io.NewSectionReader(f.Data, 0, f.Size))
	}
}

// Error writes an api.Error answer.
func Error(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(api.Error{Error: msg, Code: code})
}

// rangeStart returns the first byte a Range header asks for (the first range of several), 0 for
// none, and size for one it cannot read, which then waits for nothing and is answered as usual.
func rangeStart(h string, size int64) int64 {
	if h == "" {
		return 0
	}
	spec, ok := strings.CutPrefix(h, "bytes=")
	if !ok {
		return size
	}
	first, _, _ := strings.Cut(spec, ",")
	a, b, ok := strings.Cut(strings.TrimSpace(first), "-")
	if !ok {
		return size
	}
	if a == "" { // a suffix range: the last b bytes
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n <= 0 {
			return size
		}
		return max(0, size-n)
	}
	off, err := strconv.ParseInt(a, 10, 64)
	if err != nil || off < 0 {
		return size
	}
	return off
}

// Whole is finished content: every byte can be read at once.
type Whole struct {
	io.ReaderAt
	Size int64
}

// Ready answers the bytes from off to the end.
func (w Whole) Ready(_ context.Context, off int64) (int64, error) { return max(0, w.Size-off), nil }
