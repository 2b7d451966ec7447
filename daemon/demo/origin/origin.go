// Package origin is a real, instrumented HTTP origin: `dist demo` serves its file from one,
// and tests use it to measure the load at the origin.
//
// It serves one file with the standard library's Range support and counts
// what it does: requests, body bytes, requests in flight, and per 100 ms
// bytes and peak concurrency, so that limit tests can measure the load at the
// origin itself. It is deliberately plain and shares no code with dist.
//
// Tests can make it misbehave while it runs: serve another version of the file
// (Replace, ReplaceAfter: new bytes, size, ETag and Last-Modified), answer an
// error status with a Retry-After (Fail), hang mid-body (Stall), and read back
// what it answered (StatusCounts, Log).
package origin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Mode selects how the origin (mis)behaves.
type Mode int

const (
	ModeNormal   Mode = iota
	ModeNotFound      // 404 always
	ModeNoRange       // 200 with the whole body, also to Range requests
	ModeFlaky         // every 3rd request is answered 503
)

func (m Mode) String() string {
	switch m {
	case ModeNormal:
		return "normal"
	case ModeNotFound:
		return "not-found"
	case ModeNoRange:
		return "no-range"
	case ModeFlaky:
		return "flaky"
	}
	return "mode(" + strconv.Itoa(int(m)) + ")"
}

// Options configure Start.
type Options struct {
	Addr string // listen address; default "127.0.0.1:0"
	File string // file to serve (required)
	Name string // URL path element; default the base name of File
	Mode Mode
	Rate int64 // cap in bytes/s over all connections together; 0: none

	// Validators the answers carry: by default a strong ETag and Last-Modified.
	WeakETag       bool // the ETag is weak (W/"…")
	NoETag         bool // no ETag
	NoLastModified bool // no Last-Modified
}

// Stats are totals since Start.
type Stats struct {
	Requests      int64 // every request received, whatever the answer
	BytesServed   int64 // file bytes written in answer bodies (2xx answers only)
	Concurrent    int64 // requests in flight now
	MaxConcurrent int64 // most requests in flight at once
}

// Sample is one SampleInterval of the origin's life.
type Sample struct {
	At            time.Duration // start of the interval, since Start
	Bytes         int64         // file bytes served in the interval
	MaxConcurrent int64         // most requests in flight during the interval
}

// SampleInterval is the width of a Sample.
const SampleInterval = 100 * time.Millisecond

// Request is one request as the origin saw it.
type Request struct {
	At      time.Duration // arrival, since Start
	Status  int           // status answered; 0 when the client went before any
	Range   string        // the request's Range header
	IfMatch string        // its If-Match header
	IfRange string        // its If-Range header
}

// Fault is an error answer given instead of the file.
type Fault struct {
	Status     int    // e.g. 404, 410, 429, 503
	RetryAfter string // Retry-After header, seconds or an HTTP date; "": none
	Count      int    // requests that get it; 0 or less: every request until Heal
}

// version is one version of the served file.
type version struct {
	file *os.File
	size int64
	mod  time.Time
	etag string
}

// Origin is a running origin server.
type Origin struct {
	name   string
	mode   Mode
	opts   Options
	ln     net.Listener
	srv    *http.Server
	served chan struct{} // closed when Serve returned
	limit  *bucket       // nil: no cap
	start  time.Time

	requests atomic.Int64

	mu         sync.Mutex // guards the counters below
	bytes      int64
	concurrent int64
	peak       int64
	samples    []Sample

	vmu      sync.Mutex // guards the version and misbehaviour below
	cur      version
	files    []*os.File // every version's, closed by Close
	versions int
	next     *version // replaces cur at request number nextAt
	nextAt   int64
	fault    Fault
	faulting bool
	stallN   int   // requests still to stall; -1: every one
	stallAt  int64 // body bytes sent before a stall
	unstall  chan struct{}
	closing  chan struct{}
	byStatus map[int]int64
	log      []Request

	closeOnce sync.Once
	closeErr  error
}

// Start opens the file and serves it until Close.
func Start(o Options) (*Origin, error) {
	if o.File == "" {
		return nil, errors.New("start origin: file is required")
	}
	if o.Rate < 0 {
		return nil, fmt.Errorf("start origin: rate %d is negative", o.Rate)
	}
	f, err := os.Open(o.File)
	if err != nil {
		return nil, fmt.Errorf("start origin: %w", err)
	}
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		_ = f.Close()
		if err == nil {
			err = fmt.Errorf("%s is not a regular file", o.File)
		}
		return nil, fmt.Errorf("start origin: %w", err)
	}
	addr := o.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("start origin: %w", err)
	}
	name := o.Name
	if name == "" {
		name = filepath.Base(o.File)
	}
	org := &Origin{
		name:     name,
		mode:     o.Mode,
		opts:     o,
		ln:       ln,
		served:   make(chan struct{}),
		start:    time.Now(),
		samples:  []Sample{{}},
		unstall:  make(chan struct{}),
		closing:  make(chan struct{}),
		byStatus: map[int]int64{},
		files:    []*os.File{f},
	}
	org.cur = version{file: f, size: st.Size(), mod: st.ModTime(),
		etag: fmt.Sprintf(`"%x-%x"`, st.Size(), st.ModTime().UnixNano())}
	if o.Rate > 0 {
		org.limit = newBucket(o.Rate)
	}
	org.srv = &http.Server{Handler: org, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		defer close(org.served)
		_ = org.srv.Serve(ln) // returns on Close
	}()
	return org, nil
}

// URL is where the file is served: http://ADDR/NAME.
func (o *Origin) URL() string {
	return "http://" + o.ln.Addr().String() + "/" + url.PathEscape(o.name)
}

// Stats returns the totals so far.
func (o *Origin) Stats() Stats {
	o.mu.Lock()
	defer o.mu.Unlock()
	return Stats{Requests: o.requests.Load(), BytesServed: o.bytes, Concurrent: o.concurrent, MaxConcurrent: o.peak}
}

// Samples returns one Sample per SampleInterval since Start, up to now.
func (o *Origin) Samples() []Sample {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.advance(time.Now())
	return slices.Clone(o.samples)
}

// Replace serves file from now on: a new version, with another ETag and a Last-Modified at least a
// second later than the current one's (HTTP dates have seconds only), whatever its size. Requests
// in flight finish with the version they began with.
func (o *Origin) Replace(file string) error {
	v, err := o.open(file)
	if err != nil {
		return err
	}
	o.vmu.Lock()
	defer o.vmu.Unlock()
	o.cur, o.next = o.newer(v), nil
	return nil
}

// ReplaceAfter is Replace once n more requests were answered with the current version: the
// request after them gets the new one. It makes a change in the middle of a transfer exact.
func (o *Origin) ReplaceAfter(n int, file string) error {
	v, err := o.open(file)
	if err != nil {
		return err
	}
	o.vmu.Lock()
	defer o.vmu.Unlock()
	o.next, o.nextAt = &v, o.requests.Load()+int64(n)+1
	return nil
}

// open opens the file of a new version; the version's ETag and date are set by newer.
func (o *Origin) open(file string) (version, error) {
	f, err := os.Open(file)
	if err != nil {
		return version{}, fmt.Errorf("replace origin file: %w", err)
	}
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		_ = f.Close()
		if err == nil {
			err = fmt.Errorf("%s is not a regular file", file)
		}
		return version{}, fmt.Errorf("replace origin file: %w", err)
	}
	o.vmu.Lock()
	o.files = append(o.files, f)
	o.vmu.Unlock()
	return version{file: f, size: st.Size(), mod: st.ModTime()}, nil
}

// newer gives v a date later than the current version's and a new ETag; o.vmu is held.
func (o *Origin) newer(v version) version {
	o.versions++
	v.mod = v.mod.Truncate(time.Second)
	if floor := o.cur.mod.Truncate(time.Second).Add(time.Second); v.mod.Before(floor) {
		v.mod = floor
	}
	v.etag = fmt.Sprintf(`"%x-%x-v%d"`, v.size, v.mod.UnixNano(), o.versions)
	return v
}

// Current returns the ETag and Last-Modified the origin answers with now (as sent, "" when not).
func (o *Origin) Current() (etag, lastModified string) {
	o.vmu.Lock()
	v := o.cur
	o.vmu.Unlock()
	return o.etagOf(v), o.lastModifiedOf(v)
}

func (o *Origin) etagOf(v version) string {
	switch {
	case o.opts.NoETag:
		return ""
	case o.opts.WeakETag:
		return "W/" + v.etag
	}
	return v.etag
}

func (o *Origin) lastModifiedOf(v version) string {
	if o.opts.NoLastModified || v.mod.IsZero() {
		return ""
	}
	return v.mod.UTC().Format(http.TimeFormat)
}

// Fail answers f.Status (with f.RetryAfter) instead of the file, to the next f.Count requests or,
// with a Count of 0, to every request until Heal. It replaces an earlier Fail.
func (o *Origin) Fail(f Fault) {
	o.vmu.Lock()
	defer o.vmu.Unlock()
	if f.Count <= 0 {
		f.Count = -1
	}
	o.fault, o.faulting = f, true
}

// Stall makes the next n requests (0 or less: every request until Heal) that are served the file
// send their headers and the first after bytes of the body, then hang until Heal (they then go on),
// their client goes away, or Close.
func (o *Origin) Stall(after int64, n int) {
	o.vmu.Lock()
	defer o.vmu.Unlock()
	if n <= 0 {
		n = -1
	}
	o.stallN, o.stallAt = n, max(after, 0)
}

// Heal ends Fail and Stall: stalled requests go on, and the next requests are served the file.
func (o *Origin) Heal() {
	o.vmu.Lock()
	defer o.vmu.Unlock()
	o.faulting, o.stallN = false, 0
	close(o.unstall)
	o.unstall = make(chan struct{})
}

// StatusCounts returns how many requests were answered with each status so far.
func (o *Origin) StatusCounts() map[int]int64 {
	o.vmu.Lock()
	defer o.vmu.Unlock()
	return maps.Clone(o.byStatus)
}

// Log returns every request answered so far, in the order they arrived.
func (o *Origin) Log() []Request {
	o.vmu.Lock()
	defer o.vmu.Unlock()
	out := slices.Clone(o.log)
	slices.SortStableFunc(out, func(a, b Request) int { return int(a.At - b.At) })
	return out
}

// Close stops the server, dropping requests in flight, and closes the file.
func (o *Origin) Close() error {
	o.closeOnce.Do(func() {
		close(o.closing)
		err := o.srv.Close()
		<-o.served
		o.vmu.Lock()
		files := o.files
		o.vmu.Unlock()
		for _, f := range files {
			err = errors.Join(err, f.Close())
		}
		o.closeErr = err
		if o.closeErr != nil {
			o.closeErr = fmt.Errorf("close origin %s: %w", o.URL(), o.closeErr)
		}
	})
	return o.closeErr
}

func (o *Origin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := o.requests.Add(1)
	arrived := time.Since(o.start)
	o.enter()
	defer o.leave()
	o.vmu.Lock()
	entry := len(o.log)
	o.log = append(o.log, Request{At: arrived, Range: r.Header.Get("Range"),
		IfMatch: r.Header.Get("If-Match"), IfRange: r.Header.Get("If-Range")})
	o.vmu.Unlock()
	cw := &countingWriter{ResponseWriter: w, o: o, ctx: r.Context(), entry: entry}
	defer func() {
		if cw.status == 0 {
			o.answered(entry, 0) // the client went before any answer
		}
	}()

	if r.URL.Path != "/"+o.name {
		http.NotFound(cw, r)
		return
	}
	switch o.mode {
	case ModeNotFound:
		http.NotFound(cw, r)
		return
	case ModeFlaky:
		if n%3 == 0 {
			http.Error(cw, "flaky origin", http.StatusServiceUnavailable)
			return
		}
	}
	v, fault, stall := o.take(n)
	if fault != nil {
		if fault.RetryAfter != "" {
			cw.Header().Set("Retry-After", fault.RetryAfter)
		}
		http.Error(cw, fmt.Sprintf("origin answers %d (told to)", fault.Status), fault.Status)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		cw.Header().Set("Allow", "GET, HEAD")
		http.Error(cw, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if stall != nil {
		cw.stall = stall
	}

	body := io.NewSectionReader(v.file, 0, v.size)
	cw.Header().Set("Content-Type", "application/octet-stream")
	if o.mode == ModeNoRange {
		// Like a server without Range support: no Accept-Ranges, always the whole file.
		cw.Header().Set("Content-Length", strconv.FormatInt(v.size, 10))
		cw.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			_, _ = io.Copy(cw, body)
		}
		return
	}
	if etag := o.etagOf(v); etag != "" {
		cw.Header().Set("ETag", etag)
	}
	mod := v.mod
	if o.opts.NoLastModified {
		mod = time.Time{}
	}
	http.ServeContent(cw, r, o.name, mod, body)
}

// answered records the status of request entry of the log, before the answer leaves, so that a
// client that has the answer finds it in StatusCounts and Log.
func (o *Origin) answered(entry, status int) {
	o.vmu.Lock()
	defer o.vmu.Unlock()
	o.byStatus[status]++
	o.log[entry].Status = status
}

// take returns the version request n is served, the fault it gets instead (nil: none), and its
// stall (nil: none), consuming one of each counted misbehaviour.
func (o *Origin) take(n int64) (version, *Fault, *stall) {
	o.vmu.Lock()
	defer o.vmu.Unlock()
	if o.next != nil && n >= o.nextAt {
		o.cur, o.next = o.newer(*o.next), nil
	}
	if o.faulting {
		f := o.fault
		if o.fault.Count > 0 {
			if o.fault.Count--; o.fault.Count == 0 {
				o.faulting = false
			}
		}
		return o.cur, &f, nil
	}
	var st *stall
	if o.stallN != 0 {
		if o.stallN > 0 {
			o.stallN--
		}
		st = &stall{left: o.stallAt, release: o.unstall, closing: o.closing}
	}
	return o.cur, nil, st
}

// stall holds an answer after left more body bytes until release or closing is closed.
type stall struct {
	left    int64
	release <-chan struct{}
	closing <-chan struct{}
}

// advance appends the intervals up to now. Concurrency only changes in enter
// and leave, which advance first, so an interval without events had the
// concurrency of the moment it was appended. o.mu must be held.
func (o *Origin) advance(now time.Time) {
	idx := int(now.Sub(o.start) / SampleInterval)
	for len(o.samples) <= idx {
		o.samples = append(o.samples, Sample{
			At:            time.Duration(len(o.samples)) * SampleInterval,
			MaxConcurrent: o.concurrent,
		})
	}
}

func (o *Origin) enter() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.advance(time.Now())
	o.concurrent++
	o.peak = max(o.peak, o.concurrent)
	last := &o.samples[len(o.samples)-1]
	last.MaxConcurrent = max(last.MaxConcurrent, o.concurrent)
}

func (o *Origin) leave() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.advance(time.Now())
	o.concurrent--
}

func (o *Origin) count(n int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.advance(time.Now())
	o.bytes += int64(n)
	o.samples[len(o.samples)-1].Bytes += int64(n)
}

// countingWriter counts the body bytes of successful answers and, with a rate
// cap, paces them; error pages are neither. Writing in pieces no larger than
// the bucket's burst keeps the pacing smooth.
type countingWriter struct {
	http.ResponseWriter
	o      *Origin
	ctx    context.Context
	status int
	stall  *stall // nil: none
	entry  int    // of the request in the origin's log
}

func (c *countingWriter) WriteHeader(code int) {
	if c.status == 0 {
		c.status = code
		c.o.answered(c.entry, code)
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *countingWriter) Write(p []byte) (int, error) {
	if c.status == 0 {
		c.WriteHeader(http.StatusOK)
	}
	if c.status/100 != 2 {
		return c.ResponseWriter.Write(p)
	}
	if c.stall != nil && int64(len(p)) > c.stall.left {
		// Send what comes before the stall, then hang.
		k := int(c.stall.left)
		written, err := c.Write(p[:k])
		if err != nil {
			return written, err
		}
		if f, ok := c.ResponseWriter.(http.Flusher); ok {
			f.Flush()
		}
		select {
		case <-c.stall.release:
		case <-c.stall.closing:
			return written, http.ErrAbortHandler
		case <-c.ctx.Done():
			return written, c.ctx.Err()
		}
		c.stall = nil
		m, err := c.Write(p[k:])
		return written + m, err
	}
	if c.stall != nil {
		c.stall.left -= int64(len(p))
	}
	written := 0
	for len(p) > 0 {
		k := len(p)
		if c.o.limit != nil {
			k = min(k, c.o.limit.burst)
			if err := c.o.limit.take(c.ctx, k); err != nil {
				return written, err
			}
		}
		// Counted before the write, so that a client which has read the
		// bytes finds them in Stats; taken back if they were not sent.
		c.o.count(k)
		m, err := c.ResponseWriter.Write(p[:k])
		written += m
		if m < k {
			c.o.count(m - k)
		}
		if err != nil {
			return written, err
		}
		p = p[k:]
	}
	return written, nil
}

// bucket is a token bucket shared by all connections. A taker reserves its
// tokens at once, going into debt if need be, and sleeps off its share of the
// debt: the total rate holds however many connections take.
type bucket struct {
	rate  float64 // bytes per second
	burst int

	mu     sync.Mutex
	tokens float64
	last   time.Time
}

func newBucket(rate int64) *bucket {
	// 50 ms worth of bytes: small enough to keep 100 ms samples near the
	// rate, large enough not to split writes needlessly at high rates.
	burst := int(min(max(rate/20, 512), 1<<20))
	return &bucket{rate: float64(rate), burst: burst, tokens: float64(burst), last: time.Now()}
}

func (b *bucket) take(ctx context.Context, n int) error {
	b.mu.Lock()
	now := time.Now()
	b.tokens = min(b.tokens+now.Sub(b.last).Seconds()*b.rate, float64(b.burst))
	b.last = now
	b.tokens -= float64(n)
	debt := b.tokens
	b.mu.Unlock()
	if debt >= 0 {
		return nil
	}
	t := time.NewTimer(time.Duration(-debt / b.rate * float64(time.Second)))
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		// Give back what was not sent so other connections can use it.
		b.mu.Lock()
		b.tokens += float64(n)
		b.mu.Unlock()
		return ctx.Err()
	}
}
