package api

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// echoServer answers each POST with its protocol and body, and counts the requests by protocol.
type echoServer struct {
	mu     sync.Mutex
	protos map[string]int
}

func (e *echoServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	if r.Method == "PRI" {
		e.protos["PRI"]++ // the HTTP/2 preface, read by an HTTP/1.1 server as a request
	} else {
		e.protos[r.Proto]++
	}
	e.mu.Unlock()
	b, _ := io.ReadAll(r.Body)
	_ = json.NewEncoder(w).Encode(map[string]string{"proto": r.Proto, "body": string(b)})
}

func (e *echoServer) count(proto string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.protos[proto]
}

func TestTransportProtocols(t *testing.T) {
	t.Parallel()
	h2c := new(http.Protocols)
	h2c.SetHTTP1(true)
	h2c.SetUnencryptedHTTP2(true)
	tests := []struct {
		name    string
		tls     bool
		protos  *http.Protocols // of the server; nil: HTTP/1.1 only
		want    string
		wantPRI bool // the server sees the HTTP/2 preface of a failed first try
	}{
		{name: "h2c server", protos: h2c, want: "HTTP/2.0"},
		{name: "HTTP/1.1-only server: falls back", want: "HTTP/1.1", wantPRI: true},
		{name: "TLS server: h2 by ALPN", tls: true, want: "HTTP/2.0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			es := &echoServer{protos: map[string]int{}}
			ts := httptest.NewUnstartedServer(es)
			ts.Config.Protocols = tc.protos
			var base *http.Transport
			if tc.tls {
				ts.EnableHTTP2 = true
				ts.StartTLS()
				base = ts.Client().Transport.(*http.Transport)
			} else {
				ts.Start()
			}
			t.Cleanup(ts.Close)
			c := New(ts.URL, "")
			c.HTTP = &http.Client{Transport: NewTransport(base), Timeout: 10 * time.Second}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			for i, body := range []string{"first", "second"} {
				var out map[string]string
				if err := c.Do(ctx, http.MethodPost, "/echo", body, &out); err != nil {
					t.Fatalf("call %d: %v", i, err)
				}
				if out["proto"] != tc.want || out["body"] != `"`+body+`"` {
					t.Errorf("call %d: server got %q over %s, want %q over %s", i, out["body"], out["proto"], `"`+body+`"`, tc.want)
				}
			}
			if n := es.count(tc.want); n != 2 {
				t.Errorf("server saw %d requests over %s, want 2 (each body once)", n, tc.want)
			}
			// HTTP/2 was tried first, once: the fallback is remembered for the second call.
			if n, want := es.count("PRI"), map[bool]int{true: 1}[tc.wantPRI]; n != want {
				t.Errorf("server saw %d HTTP/2 prefaces as requests, want %d", n, want)
			}
		})
	}
}

// A server that answered over HTTP/2 once is not asked over HTTP/1.1 when it fails later: the
// failure is the network's, and a request the server may have served is not sent twice.
func TestTransportNoFallbackAfterHTTP2(t *testing.T) {
	t.Parallel()
	p := new(http.Protocols)
	p.SetUnencryptedHTTP2(true)
	es := &echoServer{protos: map[string]int{}}
	ts := httptest.NewUnstartedServer(es)
	ts.Config.Protocols = p
	ts.Start()
	c := New(ts.URL, "")
	c.HTTP = &http.Client{Transport: NewTransport(nil), Timeout: 10 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Do(ctx, http.MethodPost, "/echo", "one", nil); err != nil {
		t.Fatalf("first call: %v", err)
	}
	ts.Close()
	if err := c.Do(ctx, http.MethodPost, "/echo", "two", nil); err == nil {
		t.Fatal("a call to a closed server succeeded")
	}
	tr := c.HTTP.Transport.(*transport)
	tr.mu.Lock()
	st := *tr.servers[ts.Listener.Addr().String()]
	tr.mu.Unlock()
	if !st.spoke || !st.h1From.IsZero() {
		t.Errorf("server state %+v after a failure: want spoke, no HTTP/1.1 fallback", st)
	}
}
