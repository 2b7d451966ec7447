package controller

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"dist/core/api"
	"dist/core/store"
)

// watch answers GET /v1/watch?host=NAME&version=V: the host's whole task list. When the caller
// already has the current version the request is held until something changes, the poll timeout
// passes or the caller goes away; the answer is level-triggered, so a lost one costs nothing.
func (s *Server) watch(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	q := r.URL.Query()
	name := q.Get("host")
	if name == "" {
		return badRequest("host is missing: ask as ?host=NAME")
	}
	if err := checkString("host", name, maxNameLen); err != nil {
		return err
	}
	if err := checkString("version", q.Get("version"), maxTokenLen); err != nil {
		return err
	}
	if err := s.st.TouchHost(ctx, name, s.now()); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return errorf(http.StatusNotFound, codeNotFound, "host %s is not registered: register it first (POST /v1/hosts)", name)
		}
		return fmt.Errorf("touch host %s: %w", name, err)
	}

	// Take the version and its channel together: a change after this point closes ch.
	version, ch := s.notify.version()
	if q.Get("version") == version {
		if s.onHold != nil {
			s.onHold()
		}
		timer := time.NewTimer(api.WatchPollTimeout)
		defer timer.Stop()
		select {
		case <-ch:
		case <-timer.C:
		case <-ctx.Done():
			return nil // the caller is gone: nobody to answer
		}
		version, _ = s.notify.version()
	}
	// The version is read before the tasks: a change in between makes the caller come back at
	// once with an old version, never miss the change.
	tasks, err := s.hostTasks(r, name)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, api.Watch{Version: version, Tasks: tasks})
	return nil
}

// hostTasks builds the host's live tasks.
func (s *Server) hostTasks(r *http.Request, host string) ([]api.Task, error) {
	hts, err := s.st.HostTasks(r.Context(), host, s.now(), s.o.Keep)
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
			SHA256:   d.SHA256,
			Metainfo: d.Metainfo,
			Cancel:   a.State.Stopped() || d.State == api.DistCancelled,
			Settings: d.Settings,
		})
	}
	return tasks, nil
}
