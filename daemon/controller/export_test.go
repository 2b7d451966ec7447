package controller

import (
	"fmt"
	"net/http"
	"net/http/httptest"

	"dist/core/api"
)

// SetOnHold makes s call f each time a watch starts waiting, so tests know a request is held.
func SetOnHold(s *Server, f func()) { s.onHold = f }

// SetOnAdmit makes s call f with each report or peers ask it admits past its load shedding.
func SetOnAdmit(s *Server, f func(*http.Request)) { s.onAdmit = f }

// SetOnQueue makes s call f each time a call beyond its limit starts waiting for a place.
func SetOnQueue(s *Server, f func()) { s.onQueue = f }

// HostTasksBoth answers a host's watch tasks built from memory and read from the store.
func HostTasksBoth(s *Server, host string) (fromViews, fromStore []api.Task, err error) {
	r := httptest.NewRequest(http.MethodGet, "/v1/watch?host="+host, nil)
	if fromViews, err = s.hostTasksFromViews(r.Context(), host); err != nil {
		return nil, nil, err
	}
	fromStore, err = s.hostTasksFromStore(r, host)
	return fromViews, fromStore, err
}

// hostTasksFromStore builds the host's live tasks from the store: what hostTasksFromViews must
// answer.
func (s *Server) hostTasksFromStore(r *http.Request, host string) ([]api.Task, error) {
	hts, err := s.st.HostTaskHeads(r.Context(), host, s.now(), s.o.Keep)
	if err != nil {
		return nil, fmt.Errorf("tasks of host %s: %w", host, err)
	}
	tasks := make([]api.Task, 0, len(hts))
	for _, ht := range hts {
		a, d := ht.Assignment, ht.Distribution
		tasks = append(tasks, api.Task{
			ID:       a.ID,
			DistID:   d.ID,
			Role:     a.Role,
			Name:     d.Name,
			Source:   d.Source,
			Size:     d.Size,
			PieceLen: d.PieceLength,
			Dest:     d.Dest,
			Base:     d.Base,
			SHA256:   d.SHA256,
			// The bytes are fetched once by their sum (GET /v1/metainfo/{sum}), never resent.
			MetainfoSHA256: s.metaSumOf(r.Context(), d.ID, ht.HasMetainfo),
			Cancel:         a.State.Stopped() || d.State == api.DistCancelled,
			Settings:       d.Settings,
		})
	}
	return tasks, nil
}
