// Package local serves the LocalAPI on a unix socket (a named pipe on Windows): the CLI and the
// dashboard reach the daemon of their own host there, with the operating system's permissions as
// the access check.
//
// Who may do what: the socket is 0600 (the daemon's user and root), or 0660 with Config.Group so
// that members of that group reach it too; the peer's user is checked on every connection
// (SO_PEERCRED). Root and the daemon's own user may publish any file and devices. Any other
// caller publishes a file only by passing the descriptor it opened for reading with the request
// (SCM_RIGHTS, see api.PublishFile): the daemon checks that the descriptor is readable and is the
// file at the path, so a file the caller could not read is never published. Devices are refused
// to them. On Windows the named pipe admits only SYSTEM, the Administrators and its owner.
package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"dist/core/api"
	"dist/daemon/publish"
	"dist/daemon/serve"
)

// Config is what the LocalAPI answers with.
type Config struct {
	Socket string
	// Group, a group name or id, makes the socket 0660 with that group so that its members may
	// use the LocalAPI (with the rights above); empty keeps it 0600. Unix only.
	Group   string
	Publish func(ctx context.Context, req api.Publish) (api.Published, error)
	Status  func() api.Status
	// Unpublish withdraws a publication by info hash or path (unpublish.go); nil: none.
	Unpublish func(ctx context.Context, what string) (api.Published, error)
	// Held answers the file a publication serves (publish.Publisher.File): a caller's publish is
	// checked against it. nil: only the path is checked again after publishing.
	Held func(hash string) (serve.File, bool)
}

// Server is the LocalAPI.
type Server struct {
	srv *http.Server
	ln  net.Listener
}

// Listen opens the socket; Serve answers on it.
func Listen(cfg Config) (*Server, error) {
	ln, err := listenLocal(cfg.Socket, cfg.Group)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/publish", func(w http.ResponseWriter, r *http.Request) { handlePublish(w, r, cfg) })
	mux.HandleFunc("POST "+UnpublishPath, func(w http.ResponseWriter, r *http.Request) { handleUnpublish(w, r, cfg.Unpublish) })
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(cfg.Status())
	})
	return &Server{ln: ln, srv: &http.Server{Handler: refuseBrowsers(mux), ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout: 90 * time.Second, MaxHeaderBytes: 64 << 10,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context { return context.WithValue(ctx, connKey{}, c) }}}, nil
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

// connKey keys the connection a request came on in its context.
type connKey struct{}

// maxPublishBody bounds a publish request: a path and a piece length.
const maxPublishBody = 64 << 10

func handlePublish(w http.ResponseWriter, r *http.Request, cfg Config) {
	// Who is calling, and the file it passed: a connection of another kind is nobody's.
	var who caller
	var f *os.File
	if pc, ok := r.Context().Value(connKey{}).(peerConn); ok {
		who, f = pc.caller(), pc.takeFile()
	}
	if f != nil {
		defer f.Close() // the publisher opens the path itself; f only proved the right to read it
	}
	var req api.Publish
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxPublishBody)).Decode(&req); err != nil || req.Path == "" {
		serve.Error(w, http.StatusBadRequest, api.CodeBadRequest, "publish needs a JSON body with a path")
		return
	}
	if err := authorize(req, who, f); err != nil {
		publishError(w, err)
		return
	}
	p, err := cfg.Publish(r.Context(), req)
	if err == nil && f != nil {
		// The path may have been pointed at another file between the check and the publisher's
		// open (a directory swapped for a link, and back): what the publisher holds must be the
		// file the caller passed, or the publication is withdrawn and the answer withheld.
		if err = heldIsPassed(cfg, p.InfoHash, f); err == nil {
			err = sameOpenFile(f, req.Path)
		}
		if err != nil && cfg.Unpublish != nil {
			if _, uerr := cfg.Unpublish(r.Context(), p.InfoHash); uerr != nil {
				err = fmt.Errorf("%w (and withdrawing it failed: %v)", err, uerr)
			}
		}
	}
	if err != nil {
		publishError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(p)
}

// heldIsPassed checks that the file the publisher holds under hash is f.
func heldIsPassed(cfg Config, hash string, f *os.File) error {
	if cfg.Held == nil {
		return nil
	}
	hf, ok := cfg.Held(hash)
	held, isFile := hf.Data.(*os.File)
	if !ok || !isFile {
		return fmt.Errorf("%w: publication %s is not the file that was passed", errForbidden, hash)
	}
	hi, err := held.Stat()
	if err != nil {
		return fmt.Errorf("publication %s: %w", hash, err)
	}
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("%w: stat of the file passed: %w", errForbidden, err)
	}
	if !os.SameFile(hi, fi) {
		return fmt.Errorf("%w: the file published is not the one passed (the path was moved or replaced meanwhile): publish it again", errForbidden)
	}
	return nil
}

// publishError answers a failed publish with the status its cause calls for.
func publishError(w http.ResponseWriter, err error) {
	code, status := api.CodeInternal, http.StatusInternalServerError
	switch {
	case errors.Is(err, errForbidden):
		code, status = api.CodeUnauthorized, http.StatusForbidden
	case errors.Is(err, errBadPath):
		code, status = api.CodeBadRequest, http.StatusBadRequest
	case errors.Is(err, publish.ErrBadSource):
		code, status = api.CodeSource, http.StatusUnprocessableEntity
	}
	serve.Error(w, status, code, err.Error())
}
