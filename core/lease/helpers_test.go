package lease_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"dist/core/api"
	"dist/core/fetch"
	"dist/core/lease"
	"dist/core/store"
	"dist/daemon/controller"
	"dist/daemon/demo/origin"
)

const (
	adminToken = "admin-secret"
	hostToken  = "host-secret"
)

// clock runs at real speed from the start of a minute (so a test's byte window does not roll over
// by itself) and can jump forward.
type clock struct {
	base   time.Time
	start  time.Time
	offset atomic.Int64
}

func newClock() *clock {
	return &clock{base: time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC), start: time.Now()}
}

func (c *clock) Now() time.Time {
	return c.base.Add(time.Since(c.start) + time.Duration(c.offset.Load()))
}

func (c *clock) Jump(d time.Duration) { c.offset.Add(int64(d)) }

// ctlEnv is a real controller over a real SQLite store on loopback; restart replaces the
// controller by a new one over the same database file, as a restarted process would.
type ctlEnv struct {
	t     *testing.T
	clock *clock
	ttl   time.Duration
	path  string
	srv   *httptest.Server
	h     atomic.Pointer[http.Handler]
	mu    sync.Mutex
	st    *store.SQLite
	admin *api.Client
}

func newCtl(t *testing.T, ttl time.Duration) *ctlEnv {
	t.Helper()
	e := &ctlEnv{t: t, clock: newClock(), ttl: ttl, path: filepath.Join(t.TempDir(), "controller.db")}
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		(*e.h.Load()).ServeHTTP(w, r)
	}))
	t.Cleanup(e.srv.Close)
	e.open()
	t.Cleanup(func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		e.st.Close()
	})
	e.admin = api.New(e.srv.URL, adminToken)
	return e
}

// open starts a controller over the database file.
func (e *ctlEnv) open() {
	e.t.Helper()
	st, err := store.Open(e.path)
	if err != nil {
		e.t.Fatalf("open store: %v", err)
	}
	srv := controller.New(st, controller.Options{AdminToken: adminToken, HostToken: hostToken, Now: e.clock.Now, LeaseTTL: e.ttl})
	h := srv.Handler()
	e.mu.Lock()
	e.st = st
	e.mu.Unlock()
	e.h.Store(&h)
}

// restart drops the controller and its store and starts a new one over the same file.
func (e *ctlEnv) restart() {
	e.t.Helper()
	e.mu.Lock()
	old := e.st
	e.mu.Unlock()
	dead := http.Handler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "restarting", http.StatusServiceUnavailable)
	}))
	e.h.Store(&dead)
	if err := old.Close(); err != nil {
		e.t.Fatalf("close store: %v", err)
	}
	e.open()
}

func (e *ctlEnv) host() *api.Client { return api.New(e.srv.URL, hostToken) }

func (e *ctlEnv) setPolicy(u api.OriginUpdate) {
	e.t.Helper()
	if _, err := e.admin.SetOrigin(context.Background(), u); err != nil {
		e.t.Fatalf("set origin policy: %v", err)
	}
}

func (e *ctlEnv) status(origin string) api.OriginStatus {
	e.t.Helper()
	ss, err := e.admin.Origins(context.Background(), origin)
	if err != nil || len(ss) != 1 {
		e.t.Fatalf("origin status: %v (%d origins)", err, len(ss))
	}
	return ss[0]
}

// startOrigin serves a generated file of size bytes, at most rate bytes/s (0: no cap).
func startOrigin(t *testing.T, size int64, mode origin.Mode, rate int64) *origin.Origin {
	t.Helper()
	file := filepath.Join(t.TempDir(), "image.bin")
	if _, err := origin.Generate(file, size, 7); err != nil {
		t.Fatal(err)
	}
	o, err := origin.Start(origin.Options{File: file, Mode: mode, Rate: rate})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close() })
	return o
}

// discard is an io.WriterAt that keeps nothing.
type discard struct{}

func (discard) WriteAt(p []byte, _ int64) (int, error) { return len(p), nil }

// holder is one host fetching the origin's file over and over through its own leased gate and its
// own connections, until stopped.
type holder struct {
	gate   *lease.Gate
	cancel context.CancelFunc
	done   chan struct{}
	pulls  atomic.Int64
	err    atomic.Value
}

func startHolder(t *testing.T, ctl lease.Controller, name string, o *origin.Origin, size int64) *holder {
	t.Helper()
	var log *slog.Logger
	if os.Getenv("LEASE_DEBUG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("holder", name)
	}
	g := lease.New(lease.Config{Controller: ctl, Origin: o.URL(), Holder: name, Conns: 4, Logger: log})
	ctx, cancel := context.WithCancel(context.Background())
	h := &holder{gate: g, cancel: cancel, done: make(chan struct{})}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	go func() {
		defer close(h.done)
		defer client.CloseIdleConnections()
		for ctx.Err() == nil {
			p := &fetch.Pull{URL: o.URL(), Client: client, Size: size, Chunk: 1 << 20, Workers: 4, Dst: discard{}, Gate: g,
				Backoff: func(int) time.Duration { return 50 * time.Millisecond }}
			if err := p.Run(ctx); err != nil {
				if ctx.Err() == nil {
					h.err.Store(err)
				}
				return
			}
			h.pulls.Add(1)
		}
	}()
	t.Cleanup(h.stop)
	return h
}

func (h *holder) stop() {
	h.cancel()
	<-h.done
	_ = h.gate.Close()
}

// eventually waits up to d for cond, polling; it fails the test with what when cond never holds.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", d, what)
		}
		time.Sleep(20 * time.Millisecond) // polling a condition, not synchronising on time
	}
}

// deadController is a controller that cannot be reached: a host that died, as seen from outside.
type deadController struct {
	lease.Controller
	dead atomic.Bool
}

var errDead = errors.New("host is dead")

func (d *deadController) AcquireLease(ctx context.Context, r api.LeaseRequest) (api.LeaseAnswer, error) {
	if d.dead.Load() {
		<-ctx.Done()
		return api.LeaseAnswer{}, errDead
	}
	return d.Controller.AcquireLease(ctx, r)
}

func (d *deadController) RenewLease(ctx context.Context, id string, r api.LeaseRenew) (api.LeaseAnswer, error) {
	if d.dead.Load() {
		<-ctx.Done()
		return api.LeaseAnswer{}, errDead
	}
	return d.Controller.RenewLease(ctx, id, r)
}

func (d *deadController) ReleaseLease(ctx context.Context, id string, used int64) error {
	if d.dead.Load() {
		return errDead
	}
	return d.Controller.ReleaseLease(ctx, id, used)
}

// window10s is the most bytes the origin served in any 10 s (100 samples).
func window10s(s []origin.Sample) int64 {
	const n = int(10 * time.Second / origin.SampleInterval)
	var sum, best int64
	for i := range s {
		sum += s[i].Bytes
		if i >= n {
			sum -= s[i-n].Bytes
		}
		best = max(best, sum)
	}
	return best
}

func peakConns(s []origin.Sample) int64 {
	var p int64
	for _, x := range s {
		p = max(p, x.MaxConcurrent)
	}
	return p
}
