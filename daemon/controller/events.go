package controller

import (
	"context"
	"fmt"
	"net/http"
	"strconv"

	"dist/core/store"
)

// Event listing bounds.
const (
	defaultEventLimit = 100
	maxEventLimit     = 10000
)

// event records e, with the events of concurrent requests in one transaction: when the metainfo
// comes, thousands of clients report a mode change at once, and one commit each queued them all
// behind the database's write lock. The state it describes is already stored, so a failure to add
// the event is logged and does not fail the request.
func (s *Server) event(ctx context.Context, e store.Event) {
	if e.At.IsZero() {
		e.At = s.now()
	}
	j := &eventJob{e: e, done: make(chan struct{})}
	s.eventsGC.run(j, func(batch []*eventJob) { s.commitEvents(context.WithoutCancel(ctx), batch) })
	<-j.done
}

type eventJob struct {
	e    store.Event
	done chan struct{}
}

func (s *Server) commitEvents(ctx context.Context, batch []*eventJob) {
	es := make([]store.Event, len(batch))
	for i, j := range batch {
		es[i] = j.e
	}
	if err := s.st.AddEvents(ctx, es); err != nil {
		s.log.Warn("cannot store events", "events", len(es), "kind", es[0].Kind, "err", err)
	}
	for _, j := range batch {
		close(j.done)
	}
}

// events answers GET /v1/events?dist=ID&limit=N.
func (s *Server) events(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	limit := defaultEventLimit
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return badRequest("limit %q is not a positive number", v)
		}
		limit = min(n, maxEventLimit)
	}
	if err := checkString("dist", q.Get("dist"), maxNameLen); err != nil {
		return err
	}
	evs, err := s.st.Events(r.Context(), q.Get("dist"), limit)
	if err != nil {
		return fmt.Errorf("list events: %w", err)
	}
	if evs == nil {
		evs = []store.Event{}
	}
	writeJSON(w, http.StatusOK, evs)
	return nil
}
