package daemon_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"dist/core/api"
	"dist/core/content"
	"dist/core/pki"
	"dist/daemon"
	"dist/daemon/demo/origin"
)

// fleet is an in-process swarm on loopback: one controller, relays and clients, each a whole
// daemon with its own ports, BitTorrent node and data directory.
type fleet struct {
	t     testing.TB
	dir   string
	ctrl  *daemon.Daemon
	admin *api.Client
	// http trusts every host of the fleet (TLS to content routes, /metrics, /ui).
	http    *http.Client
	daemons map[string]*daemon.Daemon
	cancel  map[string]context.CancelFunc

	ids  sync.Mutex
	idOf map[string]*pki.Identity // hosts the test plays itself (hostIdentity)
}

const (
	adminToken = "admin-secret"
	hostToken  = "host-secret"
)

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return slog.New(slog.NewTextHandler(discard{}, nil))
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func newFleet(t testing.TB) *fleet { t.Helper(); return newFleetWith(t) }

// newFleetWith starts the fleet's controller with opts applied to its configuration.
func newFleetWith(t testing.TB, opts ...func(*daemon.Config)) *fleet {
	t.Helper()
	f := &fleet{t: t, dir: t.TempDir(), daemons: map[string]*daemon.Daemon{}, cancel: map[string]context.CancelFunc{}}
	f.ctrl = f.start("controller", []api.Role{api.RoleController}, nil, opts...)
	f.admin = api.New(f.ctrl.HTTPURL(), adminToken)
	f.admin.HTTP = &http.Client{Transport: api.NewTransport(&http.Transport{TLSClientConfig: f.ctrl.ClientTLS()})}
	f.http = &http.Client{Transport: &http.Transport{TLSClientConfig: f.ctrl.PeerTLS()}}
	t.Cleanup(f.close)
	return f
}

// start runs a daemon; opts adjust its configuration before it starts.
func (f *fleet) start(name string, roles []api.Role, labels map[string]string, opts ...func(*daemon.Config)) *daemon.Daemon {
	f.t.Helper()
	cfg := daemon.Config{
		Roles: roles, Name: name, Labels: labels,
		Listen: "127.0.0.1:0", BTListen: "127.0.0.1:0",
		Data:  filepath.Join(f.dir, name),
		Token: hostToken, AdminToken: adminToken, HostToken: hostToken,
		Logger: testLogger(f.t).With("daemon", name),
	}
	// Socket paths must stay short (about 100 bytes on Linux).
	sock, err := os.CreateTemp("", "dist-*.sock")
	if err != nil {
		f.t.Fatal(err)
	}
	sock.Close()
	os.Remove(sock.Name())
	cfg.Socket = sock.Name()
	if f.ctrl != nil {
		// Hosts join like production: the controller's host token is a join secret.
		cfg.Controller, cfg.JoinToken, cfg.CAFile = f.ctrl.HTTPURL(), hostToken, f.ctrl.CAFile()
	}
	for _, o := range opts {
		o(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	d, err := daemon.Start(ctx, cfg)
	if err != nil {
		cancel()
		f.t.Fatalf("start %s: %v", name, err)
	}
	f.daemons[name] = d
	f.cancel[name] = cancel
	return d
}

func (f *fleet) close() {
	for name, d := range f.daemons {
		if name != "controller" {
			d.Close()
			f.cancel[name]()
		}
	}
	if f.ctrl != nil {
		f.ctrl.Close()
		f.cancel["controller"]()
	}
}

// waitHosts waits until the controller has n online hosts.
func (f *fleet) waitHosts(ctx context.Context, n int) {
	f.t.Helper()
	for {
		hs, err := f.admin.Hosts(ctx)
		online := 0
		for _, h := range hs {
			if h.Online {
				online++
			}
		}
		if err == nil && online >= n {
			return
		}
		select {
		case <-ctx.Done():
			f.t.Fatalf("only %d of %d hosts registered", online, n)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// waitEnded polls the distribution until it ends (bounded by ctx).
func (f *fleet) waitEnded(ctx context.Context, id string) api.Distribution {
	f.t.Helper()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		d, err := f.admin.Distribution(ctx, id)
		if err == nil {
			switch d.State {
			case api.DistComplete, api.DistPartial, api.DistFailed, api.DistCancelled:
				return d
			}
		}
		select {
		case <-ctx.Done():
			f.t.Fatalf("distribution %s did not end: last state %+v, err %v", id, d, err)
		case <-tick.C:
		}
	}
}

func TestSwarmOverLoopback(t *testing.T) {
	t.Parallel()
	const size = 48 << 20
	const clients = 5
	f := newFleet(t)
	src := filepath.Join(f.dir, "src.img")
	sum, err := origin.Generate(src, size, 7)
	if err != nil {
		t.Fatal(err)
	}
	org, err := origin.Start(origin.Options{File: src})
	if err != nil {
		t.Fatal(err)
	}
	defer org.Close()

	f.start("relay-1", []api.Role{api.RoleRelay}, nil)
	for i := 1; i <= clients; i++ {
		f.start(fmt.Sprintf("client-%d", i), []api.Role{api.RoleClient}, map[string]string{"site": "a"})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	f.waitHosts(ctx, clients+2)

	d, err := f.admin.CreateDistribution(ctx, api.CreateDistribution{Source: org.URL(), To: []string{"all"}})
	if err != nil {
		t.Fatal(err)
	}
	if d.Targets != clients {
		t.Fatalf("targets = %d, want %d", d.Targets, clients)
	}
	d = f.waitEnded(ctx, d.ID)
	if d.State != api.DistComplete {
		t.Fatalf("state = %s, want complete; assignments: %+v", d.State, d.Assignments)
	}
	for i := 1; i <= clients; i++ {
		p := filepath.Join(f.dir, fmt.Sprintf("client-%d", i), "files", "src.img")
		got, err := content.SHA256File(ctx, p)
		if err != nil {
			t.Fatalf("client-%d copy: %v", i, err)
		}
		if got != sum {
			t.Errorf("client-%d copy sha256 %s, want %s", i, got, sum)
		}
		if _, err := os.Stat(filepath.Join(f.dir, fmt.Sprintf("client-%d", i), "tasks", d.ID, "data.part")); !os.IsNotExist(err) {
			t.Errorf("client-%d left its partial file behind (%v)", i, err)
		}
	}
	served := org.Stats().BytesServed
	if limit := int64(float64(size) * 1.25); served > limit {
		t.Errorf("origin served %d bytes, more than 1.25× the file (%d)", served, limit)
	}
	// Until the relay has hashed the source, clients stream it from the relay over HTTP; then BT
	// brings the rest. Either way each client fetches the file about once.
	if got := d.BytesBT + d.BytesHTTPRelay; got < size*clients*9/10 || got > size*clients*11/10 {
		t.Errorf("clients got %d bytes over BitTorrent and from the relay, want about %d", got, size*clients)
	}
	t.Logf("origin served %.2f× the file; clients got %d MiB over bt, %d MiB streamed from the relay",
		float64(served)/size, d.BytesBT>>20, d.BytesHTTPRelay>>20)
}

func TestPublishLocalFile(t *testing.T) {
	t.Parallel()
	const size = 8<<20 + 12345
	f := newFleet(t)
	pub := f.start("publisher", []api.Role{api.RoleClient}, nil)
	_ = pub
	f.start("client-1", []api.Role{api.RoleClient}, nil)
	f.start("client-2", []api.Role{api.RoleClient}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	f.waitHosts(ctx, 4)
	src := filepath.Join(f.dir, "local.bin")
	sum, err := origin.Generate(src, size, 3)
	if err != nil {
		t.Fatal(err)
	}
	local := api.NewLocal(f.daemons["publisher"].Config().Socket)
	p, err := local.Publish(ctx, api.Publish{Path: src})
	if err != nil {
		t.Fatal(err)
	}
	if p.SHA256 != sum || p.Size != size {
		t.Fatalf("published %+v, want sha256 %s size %d", p, sum, size)
	}
	d, err := f.admin.CreateDistribution(ctx, api.CreateDistribution{
		Source: p.Source, Metainfo: p.Metainfo, SHA256: p.SHA256, Publisher: p.Host, To: []string{"client-1", "client-2"},
	})
	if err != nil {
		t.Fatal(err)
	}
	d = f.waitEnded(ctx, d.ID)
	if d.State != api.DistComplete {
		t.Fatalf("state = %s, want complete: %+v", d.State, d.Assignments)
	}
	for _, c := range []string{"client-1", "client-2"} {
		got, err := content.SHA256File(ctx, filepath.Join(f.dir, c, "files", "local.bin"))
		if err != nil || got != sum {
			t.Errorf("%s copy sha256 %s (%v), want %s", c, got, err, sum)
		}
	}
	// A missing local file is a clear source error.
	_, err = local.Publish(ctx, api.Publish{Path: filepath.Join(f.dir, "nope")})
	if !api.IsCode(err, api.CodeSource) {
		t.Fatalf("publish of a missing file: %v, want a source error", err)
	}
}

// anyTLS is for the tests' own probes of a daemon's pages (metrics, status page, files), which
// test those pages, not TLS: every fleet has its own CA, so the client does not check the server
// (the TLS tests do, with each fleet's CA).
var anyTLS = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}

// hostClient is a controller client for a host the test plays itself: it joins with the host
// token as a daemon does and presents the certificate it got.
func (f *fleet) hostClient(ctx context.Context, name string) *api.Client {
	f.t.Helper()
	id := f.hostIdentity(ctx, name)
	c := api.New(f.ctrl.HTTPURL(), "")
	c.HTTP = &http.Client{Transport: api.NewTransport(&http.Transport{TLSClientConfig: id.ControllerConfig()})}
	return c
}

// hostIdentity is the certificate of a host the test plays itself, joined once with the host
// token and kept under the fleet's directory.
func (f *fleet) hostIdentity(ctx context.Context, name string) *pki.Identity {
	f.t.Helper()
	dir := filepath.Join(f.dir, name+"-tls")
	f.ids.Lock()
	defer f.ids.Unlock()
	if id := f.idOf[name]; id != nil {
		return id
	}
	id, err := joinAs(ctx, f.ctrl.HTTPURL(), f.admin.HTTP, hostToken, name, dir)
	if err != nil {
		f.t.Fatalf("join %s: %v", name, err)
	}
	if f.idOf == nil {
		f.idOf = map[string]*pki.Identity{}
	}
	f.idOf[name] = id
	return id
}

// joinAs asks the controller at base for a certificate for name with token, and keeps it in dir.
func joinAs(ctx context.Context, base string, hc *http.Client, token, name, dir string) (*pki.Identity, error) {
	key, err := pki.NewKey()
	if err != nil {
		return nil, err
	}
	csr, err := pki.CSR(key, name)
	if err != nil {
		return nil, err
	}
	j := api.New(base, token)
	j.HTTP = hc
	ans, err := j.Join(ctx, api.JoinRequest{Name: name, CSR: string(csr)})
	if err != nil {
		return nil, err
	}
	cert, err := pki.ParseCertPEM([]byte(ans.Cert))
	if err != nil {
		return nil, err
	}
	ca, err := pki.ParseCertPEM([]byte(ans.CA))
	if err != nil {
		return nil, err
	}
	return pki.SaveIdentity(dir, key, cert.Raw, ca.Raw)
}
