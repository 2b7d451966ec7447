package api

import (
	"net/http"
	"sync"
	"time"
)

// A host's calls to its controller are one long poll and many small requests: over HTTP/2 they
// share one connection, so the controller holds a socket per host, not one per call in flight.

// h1Keep is how long a transport keeps to HTTP/1.1 with an http:// server that did not speak
// HTTP/2 before it tries HTTP/2 again (the server may have been upgraded meanwhile).
const h1Keep = 10 * time.Minute

// defaultTransport serves every Client whose http.Client names no Transport.
var defaultTransport = NewTransport(nil)

// NewTransport answers a round tripper for a dist server built on base (nil: a clone of
// http.DefaultTransport; base itself is not changed, its dialer, TLS settings and limits are
// kept). It speaks HTTP/2 with prior knowledge (h2c) to http:// servers and HTTP/2 or HTTP/1.1
// by ALPN to https:// ones. An http:// server that never answered over HTTP/2 and fails it (an
// older controller, a proxy that speaks HTTP/1.1 only) is asked again over HTTP/1.1, and kept to
// it for a while. Requests through a proxy go over HTTP/1.1.
//
// Each transport keeps one HTTP/2 connection per server: give each host its own transport.
func NewTransport(base *http.Transport) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport.(*http.Transport)
	}
	h1 := base.Clone()
	h1.Protocols = new(http.Protocols)
	h1.Protocols.SetHTTP1(true)
	h1.Protocols.SetHTTP2(true)
	h2c := base.Clone()
	h2c.Protocols = new(http.Protocols)
	h2c.Protocols.SetUnencryptedHTTP2(true)
	h2c.Proxy = nil
	if h2c.HTTP2 == nil {
		// A silent peer (a dropped NAT entry, a crashed host) would hold every call of the host:
		// ask it for a ping after a quiet while, and close the connection when it does not answer.
		h2c.HTTP2 = &http.HTTP2Config{SendPingTimeout: 30 * time.Second, PingTimeout: 15 * time.Second}
	}
	return &transport{h1: h1, h2c: h2c, now: time.Now, servers: map[string]*h2cState{}}
}

// transport routes each request to HTTP/2 or HTTP/1.1 (NewTransport).
type transport struct {
	h1  *http.Transport // https:// (h2 by ALPN), proxied requests, and http:// servers without HTTP/2
	h2c *http.Transport // http:// with prior knowledge
	now func() time.Time

	mu      sync.Mutex
	servers map[string]*h2cState // by host:port of http:// servers
}

// h2cState is what a transport learnt of one http:// server.
type h2cState struct {
	spoke  bool      // it answered over HTTP/2 once: a later failure is the network's, not the protocol's
	h1From time.Time // it failed HTTP/2 and answered HTTP/1.1 then; zero: never
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != "http" || t.proxied(req) {
		return t.h1.RoundTrip(req)
	}
	key := req.URL.Host
	t.mu.Lock()
	st := t.servers[key]
	if st == nil {
		st = &h2cState{}
		t.servers[key] = st
	}
	useH1 := !st.h1From.IsZero() && t.now().Sub(st.h1From) < h1Keep
	spoke := st.spoke
	t.mu.Unlock()
	if useH1 {
		return t.h1.RoundTrip(req)
	}
	resp, err := t.h2c.RoundTrip(req)
	if err == nil {
		if !spoke {
			t.mu.Lock()
			st.spoke, st.h1From = true, time.Time{}
			t.mu.Unlock()
		}
		return resp, nil
	}
	if spoke || req.Context().Err() != nil {
		return nil, err
	}
	// Never answered over HTTP/2: it may not speak it. Such a server did not serve the request
	// (it read the HTTP/2 preface as a request of its own), so sending it again is safe.
	again, ok := rewind(req)
	if !ok {
		return nil, err
	}
	resp, err1 := t.h1.RoundTrip(again)
	if err1 != nil {
		return nil, err1
	}
	t.mu.Lock()
	st.h1From = t.now()
	t.mu.Unlock()
	return resp, nil
}

// proxied reports whether req goes through a proxy of the HTTP/1.1 transport.
func (t *transport) proxied(req *http.Request) bool {
	if t.h1.Proxy == nil {
		return false
	}
	u, err := t.h1.Proxy(req)
	return err == nil && u != nil
}

// rewind answers a copy of req whose body can be sent again; false when it cannot.
func rewind(req *http.Request) (*http.Request, bool) {
	again := req.Clone(req.Context())
	if req.Body == nil || req.Body == http.NoBody {
		return again, true
	}
	if req.GetBody == nil {
		return nil, false
	}
	body, err := req.GetBody()
	if err != nil {
		return nil, false
	}
	again.Body = body
	return again, true
}

// CloseIdleConnections closes the idle connections of both protocols (http.Client calls it).
func (t *transport) CloseIdleConnections() {
	t.h1.CloseIdleConnections()
	t.h2c.CloseIdleConnections()
}
