package controller

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"

	"dist/core/api"
	"dist/core/store"
)

// listDistributions answers GET /v1/distributions, newest first.
func (s *Server) listDistributions(w http.ResponseWriter, r *http.Request) error {
	s.flushProgress(r.Context())
	ds, err := s.st.Distributions(r.Context())
	if err != nil {
		return fmt.Errorf("list distributions: %w", err)
	}
	if ds == nil {
		ds = []api.Distribution{}
	}
	if err := s.withLifecycle(r.Context(), ds); err != nil {
		return fmt.Errorf("list distributions: read deadlines: %w", err)
	}
	writeJSON(w, http.StatusOK, ds)
	return nil
}

// getDistribution answers GET /v1/distributions/{id} with assignments and metainfo.
func (s *Server) getDistribution(w http.ResponseWriter, r *http.Request) error {
	d, err := s.distribution(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	one := []api.Distribution{d}
	if err := s.withLifecycle(r.Context(), one); err != nil {
		return fmt.Errorf("read deadline of %s: %w", d.ID, err)
	}
	d = one[0]
	writeJSON(w, http.StatusOK, d)
	return nil
}

// distribution reads one distribution, answering 404 for an unknown id.
func (s *Server) distribution(ctx context.Context, id string) (api.Distribution, error) {
	s.flushProgress(ctx) // its figures as of every answered report
	d, err := s.st.Distribution(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return api.Distribution{}, errorf(http.StatusNotFound, codeNotFound, "distribution %s does not exist: see dist ls", id)
	}
	if err != nil {
		return api.Distribution{}, fmt.Errorf("read distribution %s: %w", id, err)
	}
	return d, nil
}

// distHead reads one distribution's own fields (with its metainfo, without its assignments) from
// its view, answering 404 for an unknown id.
func (s *Server) distHead(ctx context.Context, id string) (api.Distribution, error) {
	var d api.Distribution
	if err := s.readView(ctx, id, func(v *distView) { d = v.d }); err != nil {
		return api.Distribution{}, distErr(id, err)
	}
	return d, nil
}

// distErr is the answer to a failed read of distribution id's view: 404 for an unknown id.
func distErr(id string, err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return errorf(http.StatusNotFound, codeNotFound, "distribution %s does not exist: see dist ls", id)
	}
	return fmt.Errorf("read distribution %s: %w", id, err)
}

// putMetainfo answers PUT /v1/distributions/{id}/metainfo: a relay that hashed a URL source while
// pulling it publishes the torrent so that clients can join the swarm. Publishing the same metainfo
// again is a no-op, so a relay may retry freely.
func (s *Server) putMetainfo(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id := r.PathValue("id")
	// The body is bounded by the piece count of the distribution's size, known before reading it.
	known, err := s.distHead(ctx, id)
	if err != nil {
		return err
	}
	if err := s.mayPutMetainfo(r, known); err != nil {
		return err
	}
	var mi []byte // the body is a JSON string: base64 of the bencoded bytes
	if err := decodeLimited(w, r, &mi, metainfoBody(known.Size, known.PieceLength), nil); err != nil {
		return err
	}
	if len(mi) == 0 {
		return badRequest("metainfo is empty: send the bencoded torrent")
	}
	if len(known.Metainfo) > 0 && bytes.Equal(mi, known.Metainfo) {
		// Every relay of a fleet publishes the same bytes: the second and later need no parse.
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	ti, err := parseMetainfo(mi)
	if err != nil {
		return badRequest("%v", err)
	}
	l := s.distLock(id)
	l.Lock()
	defer l.Unlock()
	d, err := s.distHead(ctx, id)
	if err != nil {
		return err
	}
	if ti.Size != d.Size {
		return badRequest("metainfo describes %d bytes but distribution %s is %d bytes: hash the file of this distribution", ti.Size, id, d.Size)
	}
	if len(d.Metainfo) > 0 || d.InfoHash != "" {
		if d.InfoHash == ti.InfoHash {
			w.WriteHeader(http.StatusNoContent)
			return nil
		}
		return errorf(http.StatusConflict, api.CodeConflict,
			"distribution %s already has metainfo with info hash %s: it cannot change", id, d.InfoHash)
	}
	if err := s.st.SetMetainfo(ctx, id, mi, ti.InfoHash, ti.PieceLen); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return errorf(http.StatusNotFound, codeNotFound, "distribution %s does not exist: see dist ls", id)
		}
		return fmt.Errorf("store metainfo of %s: %w", id, err)
	}
	s.log.Info("metainfo published", "id", id, "info_hash", ti.InfoHash)
	s.wakeDist(ctx, id)
	// The metainfo is stored; its event need not hold up the relay, nor the fleet's wake-up.
	s.eventLater(ctx, store.Event{DistID: id, Kind: "metainfo",
		Msg: fmt.Sprintf("metainfo published: info hash %s, piece length %d", ti.InfoHash, ti.PieceLen)})
	w.WriteHeader(http.StatusNoContent)
	return nil
}
