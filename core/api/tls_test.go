package api

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"testing"

	"dist/core/pki"
)

// TestTLSSpeaksHTTP2AndNamesTheFix: over TLS a dist client speaks HTTP/2 by ALPN to a server
// with the controller's protocols, and a client that does not trust the server's CA gets an error
// that says which flag to give.
func TestTLSSpeaksHTTP2AndNamesTheFix(t *testing.T) {
	t.Parallel()
	ca, _, err := pki.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	protos := new(http.Protocols)
	protos.SetHTTP1(true)
	protos.SetHTTP2(true)
	srv := &http.Server{TLSConfig: ca.ServerConfig(), Protocols: protos, ErrorLog: log.New(io.Discard, "", 0),
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			writeJSONForTest(w, map[string]string{"proto": r.Proto})
		})}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	t.Cleanup(func() { _ = srv.Close() })
	base := "https://" + ln.Addr().String()

	c := New(base, "")
	c.HTTP = &http.Client{Transport: NewTransport(&http.Transport{TLSClientConfig: pki.ControllerConfig(ca.Pool(), "")})}
	var got map[string]string
	if err := c.Do(context.Background(), http.MethodGet, "/", nil, &got); err != nil {
		t.Fatal(err)
	}
	if got["proto"] != "HTTP/2.0" {
		t.Errorf("protocol over TLS %q, want HTTP/2.0", got["proto"])
	}

	for _, cfg := range []*tls.Config{nil, pki.ControllerConfig(nil, "sha256:"+strings.Repeat("00", 32))} {
		c := New(base, "")
		c.HTTP = &http.Client{Transport: NewTransport(&http.Transport{TLSClientConfig: cfg})}
		err := c.Do(context.Background(), http.MethodGet, "/", nil, nil)
		var ut *UntrustedError
		if !errors.As(err, &ut) || !strings.Contains(err.Error(), "--ca-file") || strings.Count(err.Error(), "\n") > 0 {
			t.Errorf("untrusted server: %v, want one line naming --ca-file", err)
		}
	}
	// https:// to a plain HTTP server says so.
	plainLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	plain := &http.Server{Handler: http.NotFoundHandler()}
	go func() { _ = plain.Serve(plainLn) }()
	t.Cleanup(func() { _ = plain.Close() })
	err = New("https://"+plainLn.Addr().String(), "").Do(context.Background(), http.MethodGet, "/", nil, nil)
	if err == nil || !strings.Contains(err.Error(), "does not speak TLS") {
		t.Errorf("https to plain HTTP: %v, want it named", err)
	}
}

func writeJSONForTest(w http.ResponseWriter, v map[string]string) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"proto":"`+v["proto"]+`"}`)
}
