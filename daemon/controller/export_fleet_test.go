package controller

import (
	"context"
	"time"
)

// Upkeep makes one upkeep pass now, as Run does every few seconds.
func Upkeep(s *Server, ctx context.Context) { s.upkeep(ctx, time.Time{}) }
