package metrics

import (
	"net/http"
	"net/http/pprof"

	"dist/daemon/controller"
)

// PprofPath is where Pprof is mounted: `go tool pprof -http : -H "Authorization: Bearer $T"
// http://HOST:7700/debug/pprof/profile?seconds=30` profiles a live daemon.
const PprofPath = "/debug/pprof/"

// Pprof serves the runtime profiles under PprofPath to a request that carries adminToken as its
// bearer token, as the controller's admin routes check it; any other request is answered 401. An
// empty adminToken refuses every request: a daemon without --admin-token cannot be profiled.
func Pprof(adminToken string) http.Handler {
	mux := http.NewServeMux()
	// The handlers are named here, not taken from http.DefaultServeMux, where importing
	// net/http/pprof also registers them: this daemon never serves that mux.
	mux.HandleFunc(PprofPath, pprof.Index) // the index and every named profile (heap, goroutine, …)
	mux.HandleFunc(PprofPath+"cmdline", pprof.Cmdline)
	mux.HandleFunc(PprofPath+"profile", pprof.Profile)
	mux.HandleFunc(PprofPath+"symbol", pprof.Symbol)
	mux.HandleFunc(PprofPath+"trace", pprof.Trace)
	return controller.RequireAdmin(adminToken, mux)
}
