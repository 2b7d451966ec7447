// Package controller serves the controller API (/v1/): it stores distributions, delivers each
// host's tasks over a long-polled watch, hands out peers and collects progress. State is written to
// the store before anything acts on it, so a restarted controller loses nothing.
package controller

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/netutil"

	"dist/core/api"
	"dist/core/pki"
	"dist/core/selection"
	"dist/core/store"
)

// Defaults for Options fields left zero.
const (
	DefaultOnlineWindow = 30 * time.Second // a little more than api.WatchPollTimeout: a watching host stays online
	DefaultKeep         = time.Hour
)

// Options configures a Server.
type Options struct {
	AdminToken, HostToken string
	CA                    *pki.CA // signs host certificates at POST /v1/join (join.go); nil: TLS is off
	Logger                *slog.Logger
	Now                   func() time.Time // nil → time.Now
	// Probe answers the size of the source at url; its errors are shown to the user as they are.
	// nil means sources cannot be checked: only pushes that carry metainfo are accepted.
	Probe        func(ctx context.Context, url string) (int64, error)
	OnlineWindow time.Duration // a host is online if last seen within; default 30 s
	Keep         time.Duration // finished distributions stay in HostTasks (hosts keep seeding); default 1 h
	// Policy chooses relays; nil → selection.Builtin. When it fails or takes longer than
	// PolicyTimeout (default 5 s) the built-in policy decides and the reason is logged.
	Policy        selection.Policy
	PolicyTimeout time.Duration
	LeaseTTL      time.Duration // lifetime of origin leases; default DefaultLeaseTTL
	// NoRelayTimeout bounds how long a live distribution that has relays may go without a working
	// one (all offline or failed) while its targets make no progress: then it falls back to
	// another relay when one is online, or fails with the reason. Default DefaultNoRelayTimeout.
	NoRelayTimeout time.Duration
	// MaxInFlight bounds the reports, and apart the peers asks, served at once; beyond it they are answered
	// 429 with a Retry-After of RetryAfter (rounded up to whole seconds). Defaults
	// DefaultMaxInFlight and DefaultRetryAfter.
	MaxInFlight int
	// MaxAsksInFlight bounds the peers asks served at once apart from the reports; default
	// DefaultMaxAsksInFlight, and never more than MaxInFlight.
	MaxAsksInFlight int
	RetryAfter      time.Duration
	// QueueWait is how long a call beyond MaxInFlight waits for a place before its 429; default
	// DefaultQueueWait, negative: none.
	QueueWait time.Duration

	// RequireApproval keeps a host joined by a join token out of every distribution until an
	// operator approves it (approval.go).
	RequireApproval bool
}

// Server is the controller API over a Store.
type Server struct {
	st     store.Store // raw wrapped so that the views follow every write (distview.go)
	raw    store.Store // as given: for what the wrapper does not carry (backups)
	o      Options
	log    *slog.Logger
	now    func() time.Time
	notify *notifier
	// cluster keeps the controllers sharing the store in step (cluster.go); nil when alone.
	cluster *cluster

	origins *origins    // origin policies and leases (origins.go, leases.go)
	fleet   *fleetState // deadlines, relay liveness and progress samples (lifecycle.go, reports.go)

	hosts *hostIndex // every host, in memory (hostindex.go)
	views *views     // each distribution's counters, tracker index and per-distribution lock (distview.go)
	// progress holds the figures of reports not written yet (progress.go).
	progress *progress
	commits  groupCommit[*commitJob] // state changes of concurrent reports, one transaction (progress.go)
	eventsGC groupCommit[*eventJob]  // events of concurrent requests, one transaction (events.go)
	hostsGC  groupCommit[*hostJob]   // registrations of concurrent hosts, one transaction (hostindex.go)

	// onHold, when set, is called each time a watch starts waiting (tests use it to know a
	// request is held without sleeping).
	onHold func()
	// reporting and asking hold a token per report and per peers ask being served (shed.go); onAdmit, when set,
	// is called with each admitted one (tests hold a call in flight with it).
	reporting, asking chan struct{}
	onAdmit           func(*http.Request)
	queued            atomic.Int64 // calls waiting for a place (shed.go)
	onQueue           func()       // when set, called as a call starts waiting for a place

	// modeSeen is the newest mode change kept per task (modes.go).
	modeMu   sync.Mutex
	modeSeen map[string]int64

	// joinList is the live distributions as joiners last listed them, at joinAt (joiners.go).
	joinMu   sync.Mutex
	joinList []api.Distribution
	joinAt   time.Time

	// background holds the batch writes requests start beside themselves (last_seen, progress);
	// Run waits for them before its last flush.
	background sync.WaitGroup

	metrics *serverMetrics // API, store, watch and lease figures (metrics.go)

	trust *trustState // named tokens, lease ids and holders, per-host limits (trust.go)
}

// New returns a Server over st.
func New(st store.Store, o Options) *Server {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.OnlineWindow <= 0 {
		o.OnlineWindow = DefaultOnlineWindow
	}
	if o.Keep <= 0 {
		o.Keep = DefaultKeep
	}
	if o.LeaseTTL <= 0 {
		o.LeaseTTL = DefaultLeaseTTL
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = DefaultMaxInFlight
	}
	if o.MaxAsksInFlight <= 0 {
		o.MaxAsksInFlight = DefaultMaxAsksInFlight
	}
	o.MaxAsksInFlight = min(o.MaxAsksInFlight, o.MaxInFlight)
	if o.RetryAfter <= 0 {
		o.RetryAfter = DefaultRetryAfter
	}
	if o.QueueWait == 0 {
		o.QueueWait = DefaultQueueWait
	}
	if o.NoRelayTimeout <= 0 {
		o.NoRelayTimeout = DefaultNoRelayTimeout
	}
	vs := newViews()
	m := newServerMetrics()
	hosts := newHostIndex()
	notify := newNotifier()
	reporting, asking := make(chan struct{}, o.MaxInFlight), make(chan struct{}, o.MaxAsksInFlight)
	notify.busy = func() bool { return len(reporting) >= o.MaxInFlight/2 || len(asking) >= o.MaxAsksInFlight/2 }
	c := newCluster(st, notify.nonce)
	if c != nil {
		notify.share = c.wake
	}
	wrapped := viewStore{Store: m.timed(st), views: vs, hosts: hosts, c: c}
	return &Server{st: wrapped, raw: st, o: o, log: o.Logger, now: o.Now, notify: notify, cluster: c,
		origins: newOrigins(st, o.LeaseTTL), fleet: newFleetState(o.Now()), hosts: hosts, views: vs, progress: newProgress(o.Now()),
		reporting: reporting, asking: asking, metrics: m,
		trust: newTrust(st)}
}

// Protocols answers what a controller's HTTP server is to speak (set it as http.Server.Protocols):
// HTTP/1.1, HTTP/2 over TLS, and HTTP/2 in cleartext with prior knowledge (h2c), which core/api
// clients speak to an http:// controller so that a host's watch, reports and asks share one
// connection. Clients of the server's other routes (file serving) go on with HTTP/1.1.
func Protocols() *http.Protocols {
	p := new(http.Protocols)
	p.SetHTTP1(true)
	p.SetHTTP2(true)
	p.SetUnencryptedHTTP2(true)
	return p
}

// Handler answers the controller's /v1 routes and GET /healthz (which needs no token).
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)

	host := func(h handler) http.Handler { return s.auth(false, h) }
	admin := func(h handler) http.Handler { return s.auth(true, h) }

	mux.Handle("POST "+api.JoinPath, s.serve(s.joinHost))
	mux.Handle("POST /v1/hosts", host(s.registerHost))
	mux.Handle("POST "+GoodbyePath, host(s.goodbye))
	mux.Handle("GET /v1/hosts", admin(s.listHosts))
	mux.Handle("POST /v1/distributions", admin(s.createDistribution))
	mux.Handle("GET /v1/distributions", admin(s.listDistributions))
	mux.Handle("GET /v1/distributions/{id}", admin(s.getDistribution))
	mux.Handle("GET /v1/distributions/{id}/report", admin(s.distReport))
	mux.Handle("POST /v1/distributions/{id}/cancel", admin(s.cancelDistribution))
	mux.Handle("PUT /v1/distributions/{id}/metainfo", host(s.putMetainfo))
	mux.Handle("GET /v1/distributions/{id}/peers", host(s.shed(s.asking, s.peers)))
	mux.Handle("GET /v1/distributions/{id}/members/{host}", host(s.isMember))
	mux.Handle("GET /v1/watch", host(s.watch))
	mux.Handle("GET "+api.MetainfoPath+"{sum}", host(s.getMetainfo))
	mux.Handle("POST /v1/report", host(s.shed(s.reporting, s.report)))
	mux.Handle("GET /v1/events", admin(s.events))
	mux.Handle("GET /v1/origins", admin(s.listOrigins))
	mux.Handle("PUT /v1/origins", admin(s.putOrigin))
	mux.Handle("POST /v1/leases", host(s.acquireLease))
	mux.Handle("POST /v1/leases/{id}/renew", host(s.renewLease))
	mux.Handle("DELETE /v1/leases/{id}", host(s.releaseLease))
	mux.Handle("GET "+BackupPath, admin(s.backup))
	mux.Handle("POST /v1/tokens", admin(s.createToken))
	mux.Handle("GET /v1/tokens", admin(s.listTokens))
	mux.Handle("DELETE /v1/tokens/{name}", admin(s.revokeToken))
	mux.Handle("GET /v1/audit", admin(s.listAudit))
	mux.Handle("POST /v1/hosts/{name}/approve", admin(s.approveHost))
	mux.Handle("POST /v1/hosts/{name}/deny", admin(s.denyHost))
	mux.Handle("POST /v1/hosts/{name}/revoke", admin(s.revokeHost))
	// Anything else under /v1/ gets a JSON error like every other answer.
	mux.Handle("/v1/", s.serve(s.noRoute))
	return s.metrics.instrument(bounded(mux))
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) noRoute(_ http.ResponseWriter, r *http.Request) error {
	return errorf(http.StatusNotFound, codeNotFound, "no route %s %s: check the client and controller versions", r.Method, r.URL.Path)
}

// Bounds of the controller's HTTP server (HTTPServer, LimitListener, bounded). There is no
// server-wide read or write timeout: a watch is a long poll and the daemon's other routes stream
// whole files (and net/http cancels a request once its read deadline passes, even after the body
// was read). Headers get ReadHeaderTimeout; bodies and answers get deadlines per route instead.
const (
	// MaxConns caps the connections the daemon's HTTP listener holds at once; beyond it new
	// ones wait in the kernel's backlog. Generous: each host of a fleet keeps one to the
	// controller (HTTP/2), and peers fetch pieces and files over others.
	MaxConns = 65536

	headerTimeout = 10 * time.Second
	idleTimeout   = 90 * time.Second
	maxHeaderSize = 64 << 10

	// maxSmallBody bounds the JSON bodies of the small routes (leases, origins, cancel, tokens,
	// join): a URL of maxURLLen with room for JSON escapes.
	maxSmallBody = 16 << 10
	// maxRegisterBody bounds a registration: maxLabels labels of two maxNameLen names, escaped.
	maxRegisterBody = 256 << 10
	// bodyTimeout is how long a client may take to send a body; bigBodyTimeout for a push or a
	// metainfo, which may carry tens of MiB from an operator's desk.
	bodyTimeout    = 30 * time.Second
	bigBodyTimeout = 5 * time.Minute
	// answerTimeout is how long writing an answer may take, counted from the request.
	answerTimeout = time.Minute
)

// HTTPServer answers h with the bounds above; the daemon serves the controller (and its own
// routes) with it.
func HTTPServer(h http.Handler) *http.Server {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: headerTimeout, IdleTimeout: idleTimeout, MaxHeaderBytes: maxHeaderSize}
	srv.Protocols = Protocols()
	return srv
}

// LimitListener caps the connections ln holds at MaxConns.
func LimitListener(ln net.Listener) net.Listener { return netutil.LimitListener(ln, MaxConns) }

// routeBound is what a route accepts: its largest body (the handler may bound it tighter), how
// long the body may take, and how long its answer may take (0: no deadline, for the long poll
// and the backup).
type routeBound struct {
	body          int64
	read, written time.Duration
}

// routeBounds are the bounds of the routes that differ from the small JSON routes'.
var routeBounds = map[string]routeBound{
	"POST /v1/report":                     {maxBody, bodyTimeout, answerTimeout},
	"POST /v1/hosts":                      {maxRegisterBody, bodyTimeout, answerTimeout},
	"POST /v1/distributions":              {maxPushBody, bigBodyTimeout, answerTimeout},
	"PUT /v1/distributions/{id}/metainfo": {maxPushBody, bigBodyTimeout, answerTimeout}, // then metainfoBody
	"GET /v1/watch":                       {maxSmallBody, bodyTimeout, api.WatchPollTimeout + answerTimeout},
	"GET " + BackupPath:                   {maxSmallBody, bodyTimeout, 0},
}

// bounded gives each request its route's body limit and deadlines. An announced body over the
// limit is answered 413 at once, before any of it is read.
func bounded(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, pattern := mux.Handler(r)
		b, ok := routeBounds[pattern]
		if !ok {
			b = routeBound{maxSmallBody, bodyTimeout, answerTimeout}
		}
		if r.ContentLength > b.body {
			w.Header().Set("Connection", "close")
			writeJSON(w, http.StatusRequestEntityTooLarge, api.Error{Code: codeBadRequest,
				Error: fmt.Sprintf("request body is %d bytes: %s takes at most %d bytes", r.ContentLength, routeName(r, pattern), b.body)})
			return
		}
		rc := http.NewResponseController(w)
		start := time.Now()
		if b.written > 0 {
			_ = rc.SetWriteDeadline(start.Add(b.written))
		}
		if r.ContentLength != 0 && r.Body != nil && r.Body != http.NoBody {
			_ = rc.SetReadDeadline(start.Add(b.read))
			r.Body = &deadlineBody{ReadCloser: http.MaxBytesReader(w, r.Body, b.body), rc: rc}
		}
		// Deadlines stay on an HTTP/1 connection: the next request on it must not inherit them.
		defer func() {
			_ = rc.SetReadDeadline(time.Time{})
			_ = rc.SetWriteDeadline(time.Time{})
		}()
		mux.ServeHTTP(w, r)
	})
}

// routeName names a request's route for a message.
func routeName(r *http.Request, pattern string) string {
	if pattern == "" {
		return r.Method + " " + r.URL.Path
	}
	return pattern
}

// deadlineBody lifts the read deadline once the body is read: a read deadline passing later would
// cancel the request (HTTP/1) while the handler still works on it.
type deadlineBody struct {
	io.ReadCloser
	rc   *http.ResponseController
	done bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && !b.done {
		b.done = true
		_ = b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}
