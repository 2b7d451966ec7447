package local

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"dist/core/api"
	"dist/daemon/publish"
	"dist/daemon/serve"
)

// UnpublishPath is the LocalAPI route that withdraws a publication.
const UnpublishPath = "/v1/unpublish"

// Unpublish is the body of POST /v1/unpublish: the info hash or the path of a publication.
type Unpublish struct {
	What string `json:"what"`
}

// handleUnpublish withdraws a publication. Only root and the daemon's own user may: any other
// user could otherwise stop a file another one published.
func handleUnpublish(w http.ResponseWriter, r *http.Request, unpub func(context.Context, string) (api.Published, error)) {
	var who caller
	if pc, ok := r.Context().Value(connKey{}).(peerConn); ok {
		who = pc.caller()
		if f := pc.takeFile(); f != nil {
			f.Close() // nothing to prove with a descriptor here
		}
	}
	if !who.own {
		serve.Error(w, http.StatusForbidden, api.CodeUnauthorized, "unpublish needs root or the daemon's user: run dist unpublish as one of them")
		return
	}
	if unpub == nil {
		serve.Error(w, http.StatusNotFound, api.CodeNotFound, "this daemon publishes nothing")
		return
	}
	var req Unpublish
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxPublishBody)).Decode(&req); err != nil || req.What == "" {
		serve.Error(w, http.StatusBadRequest, api.CodeBadRequest, "unpublish needs a JSON body with what: an info hash or a path")
		return
	}
	p, err := unpub(r.Context(), req.What)
	if errors.Is(err, publish.ErrNotPublished) {
		serve.Error(w, http.StatusNotFound, api.CodeNotFound, err.Error())
		return
	}
	if err != nil && p.InfoHash == "" {
		serve.Error(w, http.StatusInternalServerError, api.CodeInternal, err.Error())
		return
	}
	// Withdrawn even when a record could not be removed: the answer says what was withdrawn.
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(p)
}
