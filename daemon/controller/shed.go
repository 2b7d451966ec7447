package controller

import (
	"net/http"
	"strconv"
	"time"

	"dist/core/api"
)

// Defaults of the load shedding.
const (
	// DefaultMaxInFlight is how many reports, and apart from them how many peers asks, the
	// controller serves at once; beyond it the next ones are turned away at once (429) rather
	// than queued, so the admitted ones keep their latency and the host's next report carries the
	// state anyway. Peers asks are answered from memory: reports waiting on the database do not
	// take their places. Reports in flight mostly wait for the group commit they share
	// (progress.go), so a wider window makes bigger batches, not more work: at 64 a push to
	// 10,000 simulated hosts turned away 20 k calls, at 256 12–14 k (fleetsim, 2 runs each).
	DefaultMaxInFlight = 256
	// DefaultMaxAsksInFlight is how many peers asks the controller serves at once. An ask is
	// work for a core, not a wait: more at once only queue on the cores and on the views' lock,
	// where every state change then waits for all of them (at 10,000 simulated hosts, 256 asks
	// at once held the reports of a wake-up seconds behind the lock).
	DefaultMaxAsksInFlight = 32
	// DefaultRetryAfter is the Retry-After of a turned-away call.
	DefaultRetryAfter = time.Second
	// DefaultQueueWait is how long a call beyond the limit waits for a place before it is turned
	// away: a wake-up sends a burst of a whole fleet's peers asks at once, which a short wait
	// absorbs in a fraction of the Retry-After the hosts would otherwise sit out (at 10,000 hosts
	// a progress interval, 20 s).
	DefaultQueueWait = 2 * time.Second
	// queueDepth is how many calls per place of MaxInFlight may wait at once, of both kinds;
	// beyond them a call is turned away at once, so a sustained overload queues no more than a
	// bounded few.
	queueDepth = 8
)

// shed admits h while fewer than the limit are in flight; beyond it a call waits up to QueueWait
// for a place (when not too many wait already), and is answered 429 with Retry-After otherwise.
// Watches are never shed: a held watch costs nothing, and it is how a host learns of its tasks.
func (s *Server) shed(slots chan struct{}, h handler) handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		if !s.admit(slots, r) {
			// A turned-away call comes back about one progress interval later (the host adds
			// jitter): sooner, a fleet in overload would only send it again into the same queue.
			after := max(s.o.RetryAfter, ReportEvery(s.hosts.size()))
			secs := max(int((after+time.Second-1)/time.Second), 1)
			w.Header().Set("Retry-After", strconv.Itoa(secs))
			return errorf(http.StatusTooManyRequests, api.CodeOverloaded,
				"controller busy: %d calls in flight; ask again in %d s", cap(slots), secs)
		}
		defer func() { <-slots }()
		if s.onAdmit != nil {
			s.onAdmit(r)
		}
		return h(w, r)
	}
}

// admit takes a place in slots, waiting for one up to QueueWait when few enough wait already.
func (s *Server) admit(slots chan struct{}, r *http.Request) bool {
	select {
	case slots <- struct{}{}:
		return true
	default:
	}
	if s.o.QueueWait <= 0 {
		return false
	}
	defer s.queued.Add(-1)
	if s.queued.Add(1) > int64(queueDepth*s.o.MaxInFlight) {
		return false
	}
	if s.onQueue != nil {
		s.onQueue()
	}
	t := time.NewTimer(s.o.QueueWait)
	defer t.Stop()
	select {
	case slots <- struct{}{}:
		return true
	case <-t.C:
	case <-r.Context().Done():
	}
	return false
}
