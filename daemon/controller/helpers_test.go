package controller_test

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"

	"dist/core/api"
	"dist/core/store"
	"dist/daemon/controller"
)

const (
	adminToken = "admin-secret"
	hostToken  = "host-secret"
	fileSize   = 1 << 20
	brokenURL  = "http://origin.test/broken.iso"
)

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// env is a controller on loopback over a real SQLite store.
type env struct {
	t     *testing.T
	clock *clock
	st    *store.SQLite
	srv   *controller.Server
	url   string
	admin *api.Client
	host  *api.Client
}

func newEnv(t *testing.T) *env {
	return newEnvWith(t, func(*controller.Options) {})
}

func newEnvWith(t *testing.T, tweak func(*controller.Options)) *env {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "controller.db"))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	// Milliseconds are what the store keeps: start on one so times compare equal after a round trip.
	c := &clock{t: time.UnixMilli(1_700_000_000_000).UTC()}
	o := controller.Options{
		AdminToken: adminToken,
		HostToken:  hostToken,
		Now:        c.Now,
		Probe: func(_ context.Context, url string) (int64, error) {
			if url == brokenURL {
				return 0, errors.New("origin answered 404 not found for " + url + ": check the url")
			}
			return fileSize, nil
		},
	}
	tweak(&o)
	srv := controller.New(st, o)
	ts := httptest.NewUnstartedServer(srv.Handler())
	ts.Config.Protocols = controller.Protocols() // as the daemon serves it: hosts speak h2c
	ts.Start()
	t.Cleanup(ts.Close)
	return &env{
		t: t, clock: c, st: st, srv: srv, url: ts.URL,
		admin: api.New(ts.URL, adminToken),
		host:  api.New(ts.URL, hostToken),
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// register announces a host with the given roles and site label.
func (e *env) register(name, site string, roles ...api.Role) {
	e.t.Helper()
	h := api.Host{Name: name, Roles: roles, BTAddr: name + ":6881", HTTPURL: "http://" + name + ":7700"}
	if site != "" {
		h.Labels = map[string]string{"site": site}
	}
	if err := e.host.Register(ctxT(e.t), h); err != nil {
		e.t.Fatalf("register %s: %v", name, err)
	}
}

// fleet registers two relays and four clients over two sites.
func (e *env) fleet() {
	e.register("relay-a", "a", api.RoleRelay)
	e.register("relay-b", "b", api.RoleRelay)
	e.register("c1", "a", api.RoleClient)
	e.register("c2", "a", api.RoleClient)
	e.register("c3", "a", api.RoleClient)
	e.register("c4", "b", api.RoleClient)
}

func (e *env) create(to ...string) api.Distribution {
	e.t.Helper()
	d, err := e.admin.CreateDistribution(ctxT(e.t), api.CreateDistribution{
		Source: "http://origin.test/files/image.iso", To: to,
	})
	if err != nil {
		e.t.Fatalf("create for %v: %v", to, err)
	}
	return d
}

func (e *env) report(host string, ts ...api.TaskReport) {
	e.t.Helper()
	if err := e.host.Report(ctxT(e.t), api.Report{Host: host, Tasks: ts}); err != nil {
		e.t.Fatalf("report of %s: %v", host, err)
	}
}

func (e *env) dist(id string) api.Distribution {
	e.t.Helper()
	d, err := e.admin.Distribution(ctxT(e.t), id)
	if err != nil {
		e.t.Fatalf("get distribution %s: %v", id, err)
	}
	return d
}

// statusCode answers the status and code of err, failing when err is not a StatusError.
func statusCode(t *testing.T, err error) (int, string) {
	t.Helper()
	var se *api.StatusError
	if !errors.As(err, &se) {
		t.Fatalf("want a status error, got %v", err)
	}
	return se.Status, se.Code
}

// torrent builds a single-file metainfo of size bytes.
func torrent(t *testing.T, size int64) []byte {
	t.Helper()
	const pieceLen = 256 << 10
	var pieces []byte
	for off := int64(0); off < size; off += pieceLen {
		sum := sha1.Sum([]byte{byte(off / pieceLen)})
		pieces = append(pieces, sum[:]...)
	}
	info := metainfo.Info{Name: "image.iso", Length: size, PieceLength: pieceLen, Pieces: pieces}
	ib, err := bencode.Marshal(info)
	if err != nil {
		t.Fatalf("encode info: %v", err)
	}
	var buf bytes.Buffer
	if err := (&metainfo.MetaInfo{InfoBytes: ib}).Write(&buf); err != nil {
		t.Fatalf("encode metainfo: %v", err)
	}
	return buf.Bytes()
}

// rawRequest sends a request with an optional Authorization header and answers the status and code.
func rawRequest(t *testing.T, method, url, auth string, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctxT(t), method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e api.Error
	_ = json.NewDecoder(resp.Body).Decode(&e)
	return resp.StatusCode, e.Code
}
