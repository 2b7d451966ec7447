package daemon

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"dist/core/api"
	"dist/core/atomicfile"
	"dist/core/fetch"
	"dist/core/lowat"
	"dist/core/pki"
	"dist/core/store"
	"dist/core/swarm"
	"dist/daemon/agent"
	"dist/daemon/client"
	"dist/daemon/controller"
	"dist/daemon/early"
	"dist/daemon/local"
	"dist/daemon/metrics"
	"dist/daemon/origingate"
	"dist/daemon/pluginhost"
	"dist/daemon/publish"
	"dist/daemon/relay"
	"dist/daemon/serve"
	"dist/daemon/task"
	"dist/daemon/webui"
	"dist/tui"
)

// Daemon is one running `dist daemon`.
type Daemon struct {
	cfg     Config
	log     *slog.Logger
	httpURL string

	node      *swarm.Node
	gates     *origingate.Set
	plugins   *pluginhost.Manager
	publisher *publish.Publisher
	agent     *agent.Agent
	ctrl      *controller.Server
	store     store.Store
	ca        *pki.CA       // a controller's CA (identity.go); nil in plain HTTP
	id        *pki.Identity // this host's certificate; nil in plain HTTP

	httpSrv *http.Server
	httpLn  net.Listener
	local   *local.Server

	group  *errgroup.Group
	cancel context.CancelFunc
}

// Run runs the daemon until ctx is done.
func Run(ctx context.Context, cfg Config) error {
	d, err := Start(ctx, cfg)
	if err != nil {
		return err
	}
	<-ctx.Done()
	return d.Close()
}

// Start starts every role of the daemon and returns once it serves.
func Start(ctx context.Context, cfg Config) (*Daemon, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	d := &Daemon{cfg: cfg, log: cfg.Logger.With("host", cfg.Name)}
	ctx, d.cancel = context.WithCancel(ctx)
	d.group, ctx = errgroup.WithContext(ctx)
	if err := d.start(ctx); err != nil {
		_ = d.Close()
		return nil, err
	}
	return d, nil
}

func (d *Daemon) start(ctx context.Context) error {
	if err := os.MkdirAll(d.cfg.Data, 0o755); err != nil {
		return fmt.Errorf("data directory %s: %w", d.cfg.Data, err)
	}
	if err := secureDirs(d.cfg.Data, d.cfg.PluginDir); err != nil { // Windows: explicit access lists (acl_windows.go)
		return err
	}
	ln, err := net.Listen("tcp", d.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", d.cfg.Listen, err)
	}
	d.httpLn = ln
	d.httpURL = d.cfg.Advertise
	if d.httpURL == "" {
		scheme := "https://"
		if d.cfg.InsecurePlainHTTP {
			scheme = "http://"
		}
		d.httpURL = scheme + advertiseAddr(ln.Addr())
	}
	d.httpURL = strings.TrimRight(d.httpURL, "/")
	if err := d.setupTLS(ctx, ln); err != nil {
		return err
	}

	d.node, err = swarm.New(swarm.Config{ListenAddr: d.cfg.BTListen, Logger: d.log,
		UploadRate: d.cfg.BTUploadRate, DownloadRate: d.cfg.BTDownloadRate})
	if err != nil {
		return fmt.Errorf("bittorrent listener %s: %w", d.cfg.BTListen, err)
	}
	d.plugins = pluginhost.New(d.cfg.PluginDir, d.log.With("role", "plugins"))

	mux := http.NewServeMux()
	if d.cfg.has(api.RoleController) {
		if err := d.startController(ctx); err != nil {
			return err
		}
		mux.Handle("/", d.ctrl.Handler())
		// The read-only status page: what dist top shows, from the same snapshot code.
		self := api.New(d.httpURL, d.cfg.AdminToken)
		self.HTTP = &http.Client{Transport: api.NewTransport(&http.Transport{TLSClientConfig: d.ClientTLS()})}
		ui := webui.New(webui.Config{AdminToken: d.cfg.AdminToken, Source: tui.NewController(self)})
		mux.Handle("/ui", ui)
		mux.Handle("/ui/", ui)
	} else {
		mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	}
	ctl := api.NewMulti(d.cfg.Controllers, d.cfg.Token)
	ctl.Log = d.log.With("role", "agent")
	var ctlTLS *tls.Config
	if d.id != nil {
		// The certificate is the host's credential: no token crosses the network.
		ctl.Token, ctlTLS = "", d.id.ControllerConfig()
	}
	ctl.HTTP = &http.Client{Timeout: api.WatchPollTimeout + 15*time.Second,
		Transport: api.NewTransport(&http.Transport{Proxy: http.ProxyFromEnvironment, TLSClientConfig: ctlTLS})}

	exch := early.NewRegistry(early.Config{})
	rel := relay.New(relay.Config{Early: exch})
	clientExch := exch
	if d.cfg.NoExchange {
		clientExch = nil
	}
	d.gates = origingate.New(origingate.Config{
		API: ctl, Holder: d.cfg.Name, SeparateRelay: d.cfg.has(api.RoleClient), RelayConns: rel.Workers(),
		AllowUnleased: d.cfg.AllowUnleasedOrigin, Logger: d.log,
	})
	env := &task.Env{
		Name: d.cfg.Name, Data: d.cfg.Data, Labels: d.cfg.Labels, Hybrid: d.cfg.Hybrid, BTBlocked: d.cfg.BTBlocked,
		Node: d.node, API: ctl, Pull: pullClient(rel.Workers(), d.PeerTLS()), Gates: d.gates, Log: d.log,
	}
	var ag *agent.Agent
	env.Holds = func(source string, size int64) bool { return ag.Holds(source, size) }
	d.agent = agent.New(agent.Config{
		Env: env, Roles: d.cfg.Roles, HTTPURL: d.httpURL, BTAddr: d.btAddr(), Version: Version,
		Runners: map[api.Role]task.Runner{
			api.RoleRelay:  rel.Run,
			api.RoleClient: client.New(client.Config{Devices: d.plugins, DestRoots: d.cfg.DestRoots, Early: clientExch}).Run,
		},
	})
	ag = d.agent
	d.publisher = publish.New(publish.Config{
		Dir: filepath.Join(d.cfg.Data, "published"), Host: d.cfg.Name, HTTPURL: d.httpURL,
		Node: d.node, Devices: d.plugins, Logger: d.log.With("role", "publish"),
	})

	// Content goes only to hosts of the distribution (members.go); in plain HTTP to anyone.
	var mem *members
	if d.id != nil {
		mem = newMembers(ctl)
	}
	byID := func(r *http.Request) string { return r.PathValue("id") }
	bySum := func(r *http.Request) string { return d.agent.DistOfMetainfo(r.PathValue("sum")) }
	mux.HandleFunc("GET /v1/content/{id}", mem.guard(byID, serve.Content(serve.Config{}, d.agent.Content)))
	mux.HandleFunc("HEAD /v1/content/{id}", mem.guard(byID, serve.Content(serve.Config{}, d.agent.Content)))
	exch.Routes(mux, func(h http.HandlerFunc) http.HandlerFunc { return mem.guard(byID, h) })
	mux.HandleFunc("GET "+api.PeerMetainfoPath+"{sum}", mem.guard(bySum, d.agent.ServeMetainfo))
	mux.HandleFunc("GET /v1/files/{hash}", mem.fleetOnly(serve.Published(d.publisher.File)))
	mux.HandleFunc("HEAD /v1/files/{hash}", mem.fleetOnly(serve.Published(d.publisher.File)))
	met := metrics.New(metrics.Source{
		Host: d.cfg.Name, Roles: d.cfg.Roles, Tasks: d.taskFigures, Leases: d.gates.States, Controller: d.ctrl,
		Logger: d.log.With("role", "metrics"),
	})
	mux.Handle("GET /metrics", d.guardMetrics(met))
	mux.Handle(metrics.PprofPath, metrics.Pprof(d.cfg.AdminToken))
	env.PieceTime = met.PieceFetched // before any task starts: the agent runs below
	d.group.Go(func() error { met.Run(ctx); return nil })
	// No read or write timeout: a watch is a long poll and a relay streams a whole file in one
	// answer (net/http cancels a request's context when a read deadline passes, even after the
	// body was read); bodies are bounded per route instead. Idle connections are closed, so a
	// fleet's connections do not pile up.
	d.httpSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout: 90 * time.Second, MaxHeaderBytes: 64 << 10}
	// HTTP/2 beside HTTP/1.1 (h2c in cleartext): a host's watch, reports and asks share one
	// connection to the controller; file serving clients go on with HTTP/1.1.
	d.httpSrv.Protocols = controller.Protocols()
	switch {
	case d.ca != nil:
		d.httpSrv.TLSConfig = d.ca.ServerConfig()
	case d.id != nil:
		d.httpSrv.TLSConfig = d.id.ServerConfig()
	}
	if d.id != nil {
		d.group.Go(func() error { d.renewLoop(ctx, ctl); return nil })
	}
	d.group.Go(func() error { return serveUntil(ctx, d.httpSrv, controller.LimitListener(ln)) })

	d.local, err = local.Listen(local.Config{Socket: d.cfg.Socket, Group: d.cfg.SocketGroup, Publish: d.publisher.Publish, Status: d.status, Unpublish: d.publisher.Unpublish,
		Held: d.publisher.File})
	if err != nil {
		return err
	}
	d.group.Go(d.local.Serve)
	if err := d.publisher.Load(ctx); err != nil {
		d.log.Warn("published files not restored", "err", err)
	}
	d.group.Go(func() error { d.agent.Run(ctx); return nil })

	if d.cfg.ReadyFile != "" {
		if err := atomicfile.WriteJSON(d.cfg.ReadyFile, map[string]string{
			"http_url": d.httpURL, "bt_addr": d.btAddr(), "socket": d.cfg.Socket, "name": d.cfg.Name,
			"ca_file": d.CAFile(), "ca_fingerprint": d.CAFingerprint(),
		}); err != nil {
			return fmt.Errorf("ready file: %w", err)
		}
	}
	d.log.Info("daemon ready", "roles", strings.Join(api.RoleNames(d.cfg.Roles), ","), "http", d.httpURL, "bt", d.btAddr(), "socket", d.cfg.Socket, "tls", d.id != nil)
	return nil
}

// pullClient keeps one idle connection per pull worker, so parallel Range requests reuse them;
// tc (nil in plain HTTP) is the host's TLS to peers and origins.
func pullClient(workers int, tc *tls.Config) *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		// Pieces and chunks are read in batches of packets (core/lowat), like the default dialer.
		DialContext:           lowat.Dial(&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}),
		TLSClientConfig:       tc,
		ForceAttemptHTTP2:     false, // file serving goes on HTTP/1.1: one connection per worker
		MaxIdleConnsPerHost:   2 * workers,
		ResponseHeaderTimeout: time.Minute,
		IdleConnTimeout:       90 * time.Second,
	}}
}

// serveUntil serves ln until ctx ends, then shuts the server down.
func serveUntil(ctx context.Context, srv *http.Server, ln net.Listener) error {
	errc := make(chan error, 1)
	go func() {
		if srv.TLSConfig != nil {
			errc <- srv.ServeTLS(ln, "", "") // certificates come from TLSConfig.GetCertificate
			return
		}
		errc <- srv.Serve(ln)
	}()
	select {
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		<-errc
		return nil
	}
}

func (d *Daemon) startController(ctx context.Context) error {
	if err := d.controllerTokens(); err != nil {
		return err
	}
	if len(d.cfg.Controllers) == 0 {
		d.cfg.Controller, d.cfg.Controllers = d.httpURL, []string{d.httpURL}
	}
	st, err := store.OpenSpec(ctx, d.cfg.Store, filepath.Join(d.cfg.Data, "controller.db"))
	if err != nil {
		return err
	}
	d.store = st
	// A pushed local file is a daemon's /v1/files URL: the probe speaks to it as a peer.
	probeClient := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{
		Proxy: http.ProxyFromEnvironment, TLSClientConfig: d.PeerTLS()}}
	d.ctrl = controller.New(st, controller.Options{
		CA:         d.ca,
		AdminToken: d.cfg.AdminToken,
		HostToken:  d.cfg.HostToken,
		Logger:     d.log.With("role", "controller"),
		Policy:     d.plugins.Policy(d.cfg.RelayPolicy),
		Probe: func(ctx context.Context, url string) (int64, error) {
			return fetch.Probe(ctx, probeClient, url)
		},
		RequireApproval: d.cfg.RequireApproval,
	})
	d.group.Go(func() error { d.ctrl.Run(ctx); return nil })
	d.group.Go(func() error { d.ctrl.FollowTrust(ctx, nil); return nil }) // revocations and approvals of other controllers
	return nil
}

// Close stops every role and waits for them.
func (d *Daemon) Close() error {
	d.cancel()
	if d.group != nil {
		if d.httpSrv == nil && d.httpLn != nil {
			_ = d.httpLn.Close()
		}
		if d.local != nil {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = d.local.Shutdown(sctx)
			cancel()
			_ = os.Remove(d.cfg.Socket)
		}
		_ = d.group.Wait()
	}
	if d.gates != nil {
		d.gates.Close()
	}
	if d.plugins != nil {
		d.plugins.Close()
	}
	if d.publisher != nil {
		d.publisher.Close()
	}
	if d.node != nil {
		_ = d.node.Close()
	}
	if d.store != nil {
		_ = d.store.Close()
	}
	d.log.Info("daemon stopped")
	return nil
}

// HTTPURL is the base URL the daemon advertises.
func (d *Daemon) HTTPURL() string { return d.httpURL }

// Config is the daemon's effective configuration (tokens filled in).
func (d *Daemon) Config() Config { return d.cfg }

// ModeChanges returns every mode change of the client task of distID, oldest first.
func (d *Daemon) ModeChanges(distID string) []api.ModeChange { return d.agent.ModeChanges(distID) }

func (d *Daemon) status() api.Status {
	reps := d.agent.Reports()
	sortReports(reps)
	return api.Status{
		Name: d.cfg.Name, Roles: d.cfg.Roles, HTTPURL: d.httpURL, BTAddr: d.btAddr(),
		Controller: d.cfg.Controller, Tasks: reps,
	}
}

// taskFigures answers the figures of every task for /metrics.
func (d *Daemon) taskFigures() []metrics.Task {
	ts := d.agent.Tasks()
	out := make([]metrics.Task, 0, len(ts))
	for _, t := range ts {
		r := metrics.Task{Report: t.Report(), Role: t.Role(), Dist: t.DistID(), Bad: t.HTTPBadPieces.Load(),
			TakenMs: t.TakenAt().UnixMilli()}
		if tor := t.Torrent(); tor != nil {
			st := tor.Stats()
			r.Pieces, r.PieceN = st.PiecesComplete, st.Pieces
			r.Bad += st.PiecesBad
		}
		out = append(out, r)
	}
	return out
}

func (d *Daemon) btAddr() string {
	a := d.node.Addr()
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		return a
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		return net.JoinHostPort(localIP(), port)
	}
	return a
}
