package daemon_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"dist/core/api"
	"dist/core/content"
	"dist/daemon"
	"dist/daemon/demo/origin"
)

// A host given several controller addresses carries on through another when the one it uses is
// not there. These tests run one controller (several on one database belong to the store's
// tests); the addresses are a closed port, or TCP proxies in front of that controller that the
// test kills as SIGKILL would: the listener closes and every connection is reset.

// deadControllerURL is an https:// address where nothing listens: dials are refused.
func deadControllerURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := "https://" + ln.Addr().String()
	_ = ln.Close()
	return u
}

// TestFailoverFirstControllerDead: a client whose first controller address is dead joins,
// registers and completes a distribution through the second.
func TestFailoverFirstControllerDead(t *testing.T) {
	t.Parallel()
	const size = 3<<20 + 777
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	f := newFleet(t)
	f.start("relay-1", []api.Role{api.RoleRelay}, nil)
	dead := deadControllerURL(t)
	began := time.Now()
	// Start returns once the host joined (its first call, POST /v1/join, which went through the
	// second address after the first refused the dial).
	f.start("client-1", []api.Role{api.RoleClient}, nil, func(c *daemon.Config) {
		c.Controllers = []string{dead, f.ctrl.HTTPURL()}
	})
	joined := time.Since(began)
	f.waitHosts(ctx, 3)
	registered := time.Since(began)
	t.Logf("first controller dead: joined through the second in %v, online in %v", joined, registered)
	if registered > 10*time.Second {
		t.Errorf("online after %v, want within 10 s", registered)
	}

	pushToClient1(ctx, t, f, size, 5)
}

// TestFailoverControllerKilled: the controller a host uses dies while the host's watch is held
// there; the host's next successful call goes through the other address at once, and a push
// then completes through it. One log line says the host moved.
func TestFailoverControllerKilled(t *testing.T) {
	t.Parallel()
	const size = 2<<20 + 99
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	f := newFleet(t)
	f.start("relay-1", []api.Role{api.RoleRelay}, nil)
	a, b := startTCPProxy(t, f.ctrl.HTTPURL()), startTCPProxy(t, f.ctrl.HTTPURL())
	logs := &lockedBuffer{}
	f.start("client-1", []api.Role{api.RoleClient}, nil, func(c *daemon.Config) {
		c.Controllers = []string{a.URL(), b.URL()}
		c.Logger = slog.New(slog.NewTextHandler(io.MultiWriter(logs, testLogWriter()), nil)).With("daemon", "client-1")
	})
	f.waitHosts(ctx, 3)
	if a.accepted.Load() == 0 || b.accepted.Load() != 0 {
		t.Fatalf("connections: %d to the first address, %d to the second; want the host on the first only",
			a.accepted.Load(), b.accepted.Load())
	}
	// The host is idle now: its watch is held on the first address until the poll times out.
	before := lastSeen(ctx, t, f, "client-1")
	killed := time.Now()
	a.kill()
	var took time.Duration
	for {
		if seen := lastSeen(ctx, t, f, "client-1"); seen.After(killed) && b.accepted.Load() > 0 {
			took = seen.Sub(killed)
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no call of the host reached the controller after the kill (last seen before: %v)", before)
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Logf("first controller killed: the host's first call through the second arrived %v later", took)
	if took > 10*time.Second {
		t.Errorf("failover took %v, want within 10 s", took)
	}

	pushToClient1(ctx, t, f, size, 9)
	if n := strings.Count(logs.String(), "controller changed"); n != 1 || !strings.Contains(logs.String(), b.URL()) {
		t.Errorf("%d lines saying the host moved, want one naming %s:\n%s", n, b.URL(), logs.String())
	}
	// The broken watch was asked again of the second address within the same call: the agent saw
	// no failure, so it never slept in its back-off.
	if strings.Contains(logs.String(), "controller unreachable") {
		t.Errorf("the agent saw the controller unreachable: it waited in its back-off:\n%s", logs.String())
	}
}

// lastSeen answers when the controller last heard from host.
func lastSeen(ctx context.Context, t *testing.T, f *fleet, host string) time.Time {
	t.Helper()
	hs, err := f.admin.Hosts(ctx)
	if err != nil {
		t.Fatalf("hosts: %v", err)
	}
	for _, h := range hs {
		if h.Name == host {
			return h.LastSeen
		}
	}
	t.Fatalf("host %s unknown to the controller", host)
	return time.Time{}
}

// tcpProxy forwards TCP connections to a controller (TLS passes through untouched).
type tcpProxy struct {
	ln       net.Listener
	target   string
	accepted atomic.Int32

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	killed bool
	wg     sync.WaitGroup
}

func startTCPProxy(t *testing.T, targetURL string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{ln: ln, target: strings.TrimPrefix(targetURL, "https://"), conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(func() { p.kill(); p.wg.Wait() })
	return p
}

func (p *tcpProxy) URL() string { return "https://" + p.ln.Addr().String() }

func (p *tcpProxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.accepted.Add(1)
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.pipe(c)
		}()
	}
}

func (p *tcpProxy) pipe(c net.Conn) {
	u, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil || !p.track(c, u) {
		_ = c.Close()
		if u != nil {
			_ = u.Close()
		}
		return
	}
	done := make(chan struct{})
	go func() {
		_, _ = io.Copy(u, c)
		_ = u.Close()
		close(done)
	}()
	_, _ = io.Copy(c, u)
	_ = c.Close()
	<-done
}

// track notes the connections of one forward; false once the proxy is killed.
func (p *tcpProxy) track(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.killed {
		return false
	}
	for _, c := range cs {
		p.conns[c] = struct{}{}
	}
	return true
}

// kill does what SIGKILL does to a controller: the port closes and every connection is reset.
func (p *tcpProxy) kill() {
	_ = p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.killed = true
	for c := range p.conns {
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0) // RST, not FIN
		}
		_ = c.Close()
	}
	clear(p.conns)
}

// lockedBuffer is a log sink the daemon writes to while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// testLogWriter is where the tests' daemons log: stderr with -v, nowhere otherwise.
func testLogWriter() io.Writer {
	if testing.Verbose() {
		return os.Stderr
	}
	return discard{}
}

// pushToClient1 pushes a file of size bytes (random from seed) to client-1 and checks that the
// push completes with a verified copy.
func pushToClient1(ctx context.Context, t *testing.T, f *fleet, size int64, seed uint64) {
	t.Helper()
	org, sum := startOrigin(t, f, size, seed, origin.Options{})
	d, err := f.admin.CreateDistribution(ctx, api.CreateDistribution{Source: org.URL(), To: []string{"client-1"}})
	if err != nil {
		t.Fatal(err)
	}
	if d = f.waitEnded(ctx, d.ID); d.State != api.DistComplete {
		t.Fatalf("state %s, want complete: %+v", d.State, d.Assignments)
	}
	got, err := content.SHA256File(ctx, filepath.Join(f.dir, "client-1", "files", "src.img"))
	if err != nil || got != sum {
		t.Fatalf("client-1 copy sha256 %s (%v), want %s", got, err, sum)
	}
}
