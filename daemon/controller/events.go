package controller

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

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
	j, write := s.queueEvent(e)
	if write {
		s.eventsGC.drain(s.eventCommit(ctx))
	}
	<-j.done
}

// eventLater records e in the background, with the events of concurrent requests: a request
// that needs no answer from it does not wait for its commit. Readers of events wait for those
// under way first (settleEvents).
func (s *Server) eventLater(ctx context.Context, e store.Event) {
	if _, write := s.queueEvent(e); write { // Run waits for the writer before its last flush
		s.background.Go(func() { s.eventsGC.drain(s.eventCommit(ctx)) })
	}
}

// queueEvent queues e for the next commit of events and answers its job, and whether the caller
// is to write (no commit was under way).
func (s *Server) queueEvent(e store.Event) (*eventJob, bool) {
	if e.At.IsZero() {
		e.At = s.now()
	}
	j := &eventJob{e: e, done: make(chan struct{})}
	return j, s.eventsGC.enqueue(j)
}

// eventCommit answers the commit of a batch of events, beyond the end of the request that wrote it.
func (s *Server) eventCommit(ctx context.Context) func([]*eventJob) {
	ctx = context.WithoutCancel(ctx)
	return func(batch []*eventJob) { s.commitEvents(ctx, batch) }
}

// settleEvents waits for the events written in the background, a few seconds at most.
func (s *Server) settleEvents() { s.eventsGC.waitIdle(settleWait) }

// settleWait bounds how long a reader of events waits for those being written.
const settleWait = 5 * time.Second

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
	s.settleEvents()
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
