package daemon

import (
	"encoding/json"
	"errors"
	"net/http"
	"sort"
	"time"

	"dist/core/api"
)

// startLocal serves the LocalAPI on a unix socket (a named pipe on Windows, see listenLocal): the
// CLI and the dashboard reach the daemon of their own host there, with the operating system's
// permissions as the access check.
func (d *Daemon) startLocal() error {
	ln, err := listenLocal(d.cfg.Socket)
	if err != nil {
		return err
	}
	d.localLn = ln
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/publish", d.handlePublish)
	mux.HandleFunc("GET /v1/status", d.handleStatus)
	d.localSrv = &http.Server{Handler: refuseBrowsers(mux), ReadHeaderTimeout: 10 * time.Second}
	d.goRun(func() { _ = d.localSrv.Serve(ln) })
	return nil
}

// refuseBrowsers turns away requests a web page could have made, so that a page the operator
// visits cannot drive the local daemon.
func refuseBrowsers(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Origin") != "" || r.Header.Get("Referer") != "" {
			httpError(w, http.StatusForbidden, "forbidden", "browser requests are refused by the local API")
			return
		}
		h.ServeHTTP(w, r)
	})
}

func (d *Daemon) handlePublish(w http.ResponseWriter, r *http.Request) {
	var req api.Publish
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Path == "" {
		httpError(w, http.StatusBadRequest, api.CodeBadRequest, "publish needs a JSON body with a path")
		return
	}
	p, err := d.publish(r.Context(), req)
	if err != nil {
		code := api.CodeInternal
		status := http.StatusInternalServerError
		var bad badSource
		if errors.As(err, &bad) {
			code, status = api.CodeSource, http.StatusUnprocessableEntity
		}
		httpError(w, status, code, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(p)
}

func (d *Daemon) handleStatus(w http.ResponseWriter, _ *http.Request) {
	reps := d.reports()
	sort.Slice(reps, func(i, j int) bool { return reps[i].ID < reps[j].ID })
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(api.Status{
		Name: d.cfg.Name, Roles: d.cfg.Roles, HTTPURL: d.httpURL, BTAddr: d.btAddr(),
		Controller: d.cfg.Controller, Tasks: reps,
	})
}
