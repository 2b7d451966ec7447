package controller

import (
	"errors"
	"fmt"
	"net/http"
	"slices"

	"dist/core/api"
	"dist/core/content"
	"dist/core/store"
)

// parseMetainfo reads a bencoded single-file metainfo: dist carries exactly one file per distribution.
func parseMetainfo(b []byte) (content.Meta, error) {
	m, err := content.Parse(b)
	if err != nil {
		return content.Meta{}, err
	}
	if m.Size <= 0 {
		return content.Meta{}, errEmptyMetainfo
	}
	return m, nil
}

var errEmptyMetainfo = errors.New("metainfo has no file length")

// mayPutMetainfo admits the metainfo of a distribution only from the relay the controller
// assigned for it (a relay that replaced a failed one included): any other host could otherwise
// publish hashes of its own and every client would verify against them. A published file's
// metainfo comes with its push, from an operator, never through this route. Over plain HTTP the
// shared host token names no host and the check cannot be made (lab mode).
func (s *Server) mayPutMetainfo(r *http.Request, d api.Distribution) error {
	c := callerOf(r)
	if c.kind != callerHost {
		return errorf(http.StatusForbidden, codeForbidden, "only a relay of distribution %s publishes its metainfo", d.ID)
	}
	if !c.verified {
		return nil
	}
	if d.Publisher != "" {
		return errorf(http.StatusForbidden, codeForbidden, "distribution %s is a published file: its metainfo came with the push", d.ID)
	}
	a, err := s.st.Assignment(r.Context(), api.AssignmentID(d.ID, c.name, api.RoleRelay))
	if errors.Is(err, store.ErrNotFound) || (err == nil && a.State.Stopped()) {
		return errorf(http.StatusForbidden, codeForbidden, "host %s is not a relay of distribution %s: only its assigned relay publishes the metainfo", c.name, d.ID)
	}
	if err != nil {
		return fmt.Errorf("read relay assignment of %s: %w", d.ID, err)
	}
	return nil
}

// mayReadMetainfo admits a host to the metainfo whose bytes hash to sum only when it takes part in
// a distribution of it (relay, client or publisher): the metainfo holds the info hash, which is
// what lets a peer into the swarm (core/swarm's membership check). Over plain HTTP no host is
// named and the check cannot be made (lab mode).
func (s *Server) mayReadMetainfo(r *http.Request, sum string) error {
	c := callerOf(r)
	if c.kind != callerHost || !c.verified {
		return nil
	}
	s.views.mu.RLock()
	ids := slices.Clone(s.views.metaIn[sum])
	s.views.mu.RUnlock()
	for _, id := range ids {
		member := false
		err := s.readView(r.Context(), id, func(v *distView) { member = memberOf(v, id, c.name) })
		if err == nil && member {
			return nil
		}
	}
	return errorf(http.StatusForbidden, codeForbidden, "host %s takes part in no distribution of metainfo %s: a host reads only the metainfo of its own tasks", c.name, sum)
}
