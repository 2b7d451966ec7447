// Package local serves the LocalAPI on a unix socket (a named pipe on Windows): the CLI and the
// dashboard reach the daemon of their own host there, with the operating system's permissions as
// the access check.
package local

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"time"

	"dist/core/api"
	"dist/daemon/publish"
	"dist/daemon/serve"
)

// Config is what the LocalAPI answers with.
type Config struct {
	Socket  string
	Publish func(ctx context.Context, req api.Publish) (api.Published, error)
	Status  func() api.Status
}

// Server is the LocalAPI.
type Server struct {
	srv *http.Server
	ln  net.Listener
}

// Listen opens the socket; Serve answers on it.
func Listen(cfg Config) (*Server, error) {
	ln, err := listenLocal(cfg.Socket)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/publish", func(w http.ResponseWriter, r *http.Request) { handlePublish(w, r, cfg.Publish) })
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(cfg.Status())
	})
	return &Server{ln: ln, srv: &http.Server{Handler: refuseBrowsers(mux), ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout: 90 * time.Second, MaxHeaderBytes: 64 << 10}}, nil
}

// Serve answers until Shutdown.
func (s *Server) Serve() error {
	if err := s.srv.Serve(s.ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Shutdown stops answering.
func (s *Server) Shutdown(ctx context.Context) error { return s.srv.Shutdown(ctx) }

// refuseBrowsers turns away requests a web page could have made, so that a page the operator
// visits cannot drive the local daemon.
func refuseBrowsers(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Origin") != "" || r.Header.Get("Referer") != "" {
			serve.Error(w, http.StatusForbidden, "forbidden", "browser requests are refused by the local API")
			return
		}
		h.ServeHTTP(w, r)
	})
}

func handlePublish(w http.ResponseWriter, r *http.Request, pub func(context.Context, api.Publish) (api.Published, error)) {
	var req api.Publish
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Path == "" {
		serve.Error(w, http.StatusBadRequest, api.CodeBadRequest, "publish needs a JSON body with a path")
		return
	}
	p, err := pub(r.Context(), req)
	if err != nil {
		code, status := api.CodeInternal, http.StatusInternalServerError
		if errors.Is(err, publish.ErrBadSource) {
			code, status = api.CodeSource, http.StatusUnprocessableEntity
		}
		serve.Error(w, status, code, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(p)
}
