package controller

import "context"

// SetOnClusterApply sets a hook called after each payload from another controller is applied.
// Set it before Run.
func SetOnClusterApply(s *Server, f func()) {
	if s.cluster != nil {
		s.cluster.onApply = f
	}
}

// Clustered reports whether s keeps in step with other controllers over its store's bus.
func Clustered(s *Server) bool { return s.cluster != nil }

// Leading reports whether s runs the lifecycle.
func Leading(s *Server) bool { return s.runsLifecycle() }

// ViewFigures answers the client counters of a distribution as s's view holds them.
func ViewFigures(ctx context.Context, s *Server, id string) (targets, done, failed int, err error) {
	err = s.withView(ctx, id, func(v *distView) { targets, done, failed = v.figures() })
	return targets, done, failed, err
}

// KnowsHost reports whether s holds host name in memory.
func KnowsHost(ctx context.Context, s *Server, name string) bool {
	_, ok, err := s.hostByName(ctx, name)
	return err == nil && ok
}
