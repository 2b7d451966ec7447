package controller

import (
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
