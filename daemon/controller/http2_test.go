package controller_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"

	"dist/core/api"
	"dist/core/store"
	"dist/daemon/controller"
)

// connCounter counts the connections a server accepted and the protocols of its requests.
type connCounter struct {
	mu     sync.Mutex
	conns  map[net.Conn]bool
	protos map[string]int
}

func (c *connCounter) state(conn net.Conn, s http.ConnState) {
	if s != http.StateNew {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.conns[conn] = true
}

func (c *connCounter) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		c.protos[r.Proto]++
		c.mu.Unlock()
		h.ServeHTTP(w, r)
	})
}

func (c *connCounter) counts() (int, map[string]int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	protos := map[string]int{}
	for k, v := range c.protos {
		protos[k] = v
	}
	return len(c.conns), protos
}

// A host's long-poll watch and its reports, registration and peers asks go over one HTTP/2
// connection while the watch is held: the controller holds one socket per host.
func TestHostCallsShareOneHTTP2Connection(t *testing.T) {
	t.Parallel()
	st, err := store.Open(filepath.Join(t.TempDir(), "controller.db"))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	srv := controller.New(st, controller.Options{AdminToken: adminToken, HostToken: hostToken,
		Probe: func(context.Context, string) (int64, error) { return fileSize, nil }})
	held := make(chan struct{}, 4)
	controller.SetOnHold(srv, func() { held <- struct{}{} })
	cc := &connCounter{conns: map[net.Conn]bool{}, protos: map[string]int{}}
	ts := httptest.NewUnstartedServer(cc.wrap(srv.Handler()))
	ts.Config.Protocols = controller.Protocols()
	ts.Config.ConnState = cc.state
	ts.Start()
	t.Cleanup(ts.Close)

	for _, tc := range []struct {
		name string
		http *http.Client
	}{
		{"default transport", nil}, // api.New's client names no transport
		{"own transport", &http.Client{Transport: api.NewTransport(nil)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := api.New(ts.URL, hostToken)
			if tc.http != nil {
				c.HTTP = tc.http
			}
			before, _ := cc.counts()
			name := "h2-" + filepath.Base(t.Name())
			if err := c.Register(ctxT(t), api.Host{Name: name, Roles: []api.Role{api.RoleClient}}); err != nil {
				t.Fatalf("register: %v", err)
			}
			w, err := c.Watch(ctxT(t), name, "")
			if err != nil {
				t.Fatalf("first watch: %v", err)
			}
			wctx, cancel := context.WithCancel(ctxT(t))
			done := make(chan error, 1)
			go func() {
				_, err := c.Watch(wctx, name, w.Version)
				done <- err
			}()
			select {
			case <-held:
			case err := <-done:
				t.Fatalf("watch answered instead of waiting: %v", err)
			case <-ctxT(t).Done():
				t.Fatal("watch was not held")
			}
			for range 3 {
				if err := c.Report(ctxT(t), api.Report{Host: name}); err != nil {
					t.Fatalf("report while the watch is held: %v", err)
				}
			}
			if err := c.Register(ctxT(t), api.Host{Name: name, Roles: []api.Role{api.RoleClient}}); err != nil {
				t.Fatalf("register while the watch is held: %v", err)
			}
			if _, err := c.Peers(ctxT(t), "no-such-dist", name); err == nil {
				t.Fatal("peers of an unknown distribution answered")
			}
			after, protos := cc.counts()
			cancel()
			<-done
			if got := after - before; got != 1 {
				t.Errorf("the host's calls used %d connections, want 1", got)
			}
			if protos["HTTP/1.1"] != 0 || protos["HTTP/2.0"] == 0 {
				t.Errorf("requests by protocol %v, want HTTP/2.0 only", protos)
			}
		})
	}
}
