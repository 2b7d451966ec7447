package controller

import "time"

// SetHostLimit replaces s's per-host request limits and their clock.
func SetHostLimit(s *Server, rate, burst float64, clock func() time.Time) {
	s.trust.limiter = newHostLimiter(rate, burst)
	s.trust.clock = clock
}
