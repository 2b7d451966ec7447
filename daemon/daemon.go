package daemon

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"dist/core/api"
	"dist/core/fetch"
	"dist/core/store"
	"dist/core/swarm"
	"dist/daemon/controller"
)

// Daemon is one running `dist daemon`.
type Daemon struct {
	cfg     Config
	log     *slog.Logger
	httpURL string
	node    *swarm.Node
	ctrl    *controller.Server
	store   store.Store
	api     *api.Client // the controller, as a host

	httpSrv  *http.Server
	localSrv *http.Server
	httpLn   net.Listener
	localLn  net.Listener

	mu        sync.Mutex
	tasks     map[string]*task      // by task id
	published map[string]*published // by info hash
	gates     originGates           // origin leases (origin_gate.go)
	pm        pluginManager         // plugins started on demand (plugins.go)

	wg     sync.WaitGroup
	cancel context.CancelFunc
	done   chan struct{}
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
	d := &Daemon{
		cfg:       cfg,
		log:       cfg.Logger.With("host", cfg.Name),
		tasks:     map[string]*task{},
		published: map[string]*published{},
		done:      make(chan struct{}),
	}
	ctx, d.cancel = context.WithCancel(ctx)
	if err := d.start(ctx); err != nil {
		d.cancel()
		d.shutdown()
		return nil, err
	}
	return d, nil
}

func (c *Config) fill() error {
	if len(c.Roles) == 0 {
		return errors.New("no role given: use --role controller, relay, client or a combination")
	}
	for _, r := range c.Roles {
		switch r {
		case api.RoleController, api.RoleRelay, api.RoleClient:
		default:
			return fmt.Errorf("unknown role %q: use controller, relay or client", r)
		}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Name == "" {
		h, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("host name: %w (set --name)", err)
		}
		c.Name = h
	}
	if c.Data == "" {
		return errors.New("no data directory: set --data")
	}
	if c.Listen == "" {
		c.Listen = ":7700"
	}
	if c.BTListen == "" {
		c.BTListen = ":6881"
	}
	if c.Socket == "" {
		c.Socket = filepath.Join(c.Data, "dist.sock")
	}
	if !c.has(api.RoleController) && c.Controller == "" {
		return errors.New("no controller: set --controller URL (or hold the controller role)")
	}
	if !c.has(api.RoleController) && c.Token == "" {
		return errors.New("no host token: set --token (the controller's --host-token)")
	}
	return nil
}

func (c *Config) has(role string) bool { return slices.Contains(c.Roles, role) }

func (d *Daemon) start(ctx context.Context) error {
	if err := os.MkdirAll(d.cfg.Data, 0o755); err != nil {
		return fmt.Errorf("data directory %s: %w", d.cfg.Data, err)
	}
	ln, err := net.Listen("tcp", d.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", d.cfg.Listen, err)
	}
	d.httpLn = ln
	d.httpURL = d.cfg.Advertise
	if d.httpURL == "" {
		d.httpURL = "http://" + advertiseAddr(ln.Addr())
	}
	d.httpURL = strings.TrimRight(d.httpURL, "/")

	d.node, err = swarm.New(swarm.Config{ListenAddr: d.cfg.BTListen, Logger: d.log,
		UploadRate: d.cfg.BTUploadRate, DownloadRate: d.cfg.BTDownloadRate})
	if err != nil {
		return fmt.Errorf("bittorrent listener %s: %w", d.cfg.BTListen, err)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/content/{id}", d.serveContent)
	mux.HandleFunc("HEAD /v1/content/{id}", d.serveContent)
	mux.HandleFunc("GET /v1/files/{hash}", d.servePublished)
	mux.HandleFunc("HEAD /v1/files/{hash}", d.servePublished)
	mux.HandleFunc("GET /metrics", d.serveMetrics) // Prometheus text format (metrics.go)
	if d.cfg.has(api.RoleController) {
		if err := d.startController(ctx); err != nil {
			return err
		}
		mux.Handle("/", d.ctrl.Handler())
	} else {
		mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	}
	d.httpSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	d.goRun(func() { _ = d.httpSrv.Serve(ln) })

	if err := d.startLocal(); err != nil {
		return err
	}
	if err := d.loadPublished(ctx); err != nil {
		d.log.Warn("published files not restored", "err", err)
	}
	d.api = api.New(d.cfg.Controller, d.cfg.Token)
	d.api.HTTP = &http.Client{Timeout: api.WatchPollTimeout + 15*time.Second}
	d.goRun(func() { d.agent(ctx) })

	if d.cfg.ReadyFile != "" {
		if err := writeJSONAtomic(d.cfg.ReadyFile, map[string]string{
			"http_url": d.httpURL, "bt_addr": d.btAddr(), "socket": d.cfg.Socket, "name": d.cfg.Name,
		}); err != nil {
			return fmt.Errorf("ready file: %w", err)
		}
	}
	d.log.Info("daemon ready", "roles", strings.Join(d.cfg.Roles, ","), "http", d.httpURL, "bt", d.btAddr(), "socket", d.cfg.Socket)
	return nil
}

func (d *Daemon) startController(ctx context.Context) error {
	if d.cfg.HostToken == "" {
		d.cfg.HostToken = d.cfg.Token
	}
	// Nothing is open: a token not given is generated once and kept in the data directory.
	for _, tok := range []struct {
		v    *string
		file string
	}{{&d.cfg.AdminToken, "admin.token"}, {&d.cfg.HostToken, "host.token"}} {
		if *tok.v != "" {
			continue
		}
		path := filepath.Join(d.cfg.Data, tok.file)
		t, err := tokenFile(path)
		if err != nil {
			return err
		}
		*tok.v = t
		d.log.Info("token read from file", "file", path)
	}
	if d.cfg.Token == "" {
		d.cfg.Token = d.cfg.HostToken
	}
	if d.cfg.Controller == "" {
		d.cfg.Controller = d.httpURL
	}
	st, err := store.Open(filepath.Join(d.cfg.Data, "controller.db"))
	if err != nil {
		return err
	}
	d.store = st
	probeClient := &http.Client{Timeout: 15 * time.Second}
	d.ctrl = controller.New(st, controller.Options{
		AdminToken: d.cfg.AdminToken,
		HostToken:  d.cfg.HostToken,
		Logger:     d.log.With("role", "controller"),
		Policy:     d.relayPolicy(),
		Probe: func(ctx context.Context, url string) (int64, error) {
			return fetch.Probe(ctx, probeClient, url)
		},
	})
	d.goRun(func() { d.ctrl.Run(ctx) })
	return nil
}

// Close stops every role and waits for them.
func (d *Daemon) Close() error {
	d.cancel()
	d.shutdown()
	return nil
}

func (d *Daemon) shutdown() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if d.httpSrv != nil {
		_ = d.httpSrv.Shutdown(ctx)
	} else if d.httpLn != nil {
		_ = d.httpLn.Close()
	}
	if d.localSrv != nil {
		_ = d.localSrv.Shutdown(ctx)
		_ = os.Remove(d.cfg.Socket)
	}
	d.wg.Wait()
	d.mu.Lock()
	for _, t := range d.tasks {
		t.close()
	}
	d.mu.Unlock()
	d.closeGates()
	d.pm.close()
	if d.node != nil {
		_ = d.node.Close()
	}
	if d.store != nil {
		_ = d.store.Close()
	}
	d.log.Info("daemon stopped")
}

// HTTPURL is the base URL the daemon advertises.
func (d *Daemon) HTTPURL() string { return d.httpURL }

// Config is the daemon's effective configuration (tokens filled in).
func (d *Daemon) Config() Config { return d.cfg }

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

func (d *Daemon) goRun(f func()) {
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		f()
	}()
}

// advertiseAddr turns a listener address into one that others can dial: an unspecified address
// (":7700") becomes this machine's first non-loopback IPv4 address.
func advertiseAddr(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok {
		return a.String()
	}
	if tcp.IP == nil || tcp.IP.IsUnspecified() {
		return net.JoinHostPort(localIP(), fmt.Sprint(tcp.Port))
	}
	return tcp.String()
}

func localIP() string {
	addrs, err := net.InterfaceAddrs()
	if err == nil {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
				return n.IP.String()
			}
		}
	}
	return "127.0.0.1"
}

// tokenFile reads a token from path, creating a random one there first if the file is missing.
func tokenFile(path string) (string, error) {
	if b, err := os.ReadFile(path); err == nil {
		if t := strings.TrimSpace(string(b)); t != "" {
			return t, nil
		}
	}
	buf := make([]byte, 24)
	if _, err := rand.Read(buf); err != nil {
		return "", fmt.Errorf("token: %w", err)
	}
	t := hex.EncodeToString(buf)
	if err := writeFileAtomic(path, []byte(t+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("token file %s: %w", path, err)
	}
	return t, nil
}

func writeJSONAtomic(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(path, append(b, '\n'), 0o644)
}

// writeFileAtomic writes through a temp file and a rename so that a reader never sees half a file.
func writeFileAtomic(path string, b []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
