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
	// take their places.
	DefaultMaxInFlight = 64
	// DefaultRetryAfter is the Retry-After of a turned-away call.
	DefaultRetryAfter = time.Second
)

// shed admits h while fewer than the limit are in flight, and answers 429 with Retry-After
// otherwise. Watches are never shed: a held watch costs nothing, and it is how a host learns of
// its tasks.
func (s *Server) shed(slots chan struct{}, h handler) handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		select {
		case slots <- struct{}{}:
		default:
			secs := max(int((s.o.RetryAfter+time.Second-1)/time.Second), 1)
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
