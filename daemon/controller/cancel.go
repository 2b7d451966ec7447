package controller

import (
	"errors"
	"fmt"
	"net/http"

	"dist/core/api"
	"dist/core/store"
)

// cancelDistribution answers POST /v1/distributions/{id}/cancel. The state is written first; the
// woken watches then answer without the distribution's tasks, and each daemon drops a task that
// vanished from its watch. Cancelling twice is a no-op, so an operator may retry freely.
func (s *Server) cancelDistribution(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id := r.PathValue("id")
	l := s.distLock(id)
	l.Lock()
	d, err := s.distribution(ctx, id)
	if err != nil {
		l.Unlock()
		return err
	}
	switch {
	case d.State == api.DistCancelled:
		l.Unlock()
		writeJSON(w, http.StatusOK, d)
		return nil
	case d.State.Ended():
		l.Unlock()
		return errorf(http.StatusConflict, api.CodeConflict, "distribution %s already ended %s: there is nothing to cancel", id, d.State)
	}
	now := s.now()
	if err := s.st.SetDistributionState(ctx, id, api.DistCancelled, now); err != nil {
		l.Unlock()
		if errors.Is(err, store.ErrNotFound) {
			return errorf(http.StatusNotFound, codeNotFound, "distribution %s does not exist: see dist ls", id)
		}
		return fmt.Errorf("cancel distribution %s: %w", id, err)
	}
	l.Unlock()
	s.event(ctx, store.Event{DistID: id, Kind: "state",
		Msg: fmt.Sprintf("state cancelled (was %s): %d of %d targets done", d.State, d.Done, d.Targets)})
	s.log.Info("distribution cancelled", "id", id, "was", d.State)
	s.wakeDist(ctx, id)
	d, err = s.distribution(ctx, id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, d)
	return nil
}
