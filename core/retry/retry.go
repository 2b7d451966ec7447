// Package retry holds the back-off every loop of a host uses when it tries again: exponential,
// capped, with jitter, so that a fleet hit by one failure does not come back in lockstep.
package retry

import (
	"context"
	"math/rand/v2"
	"time"
)

// Backoff is the wait before attempt failures+1: 250 ms doubling per failure up to 15 s, then
// jittered to between half and all of it.
func Backoff(failures int) time.Duration {
	b := 250 * time.Millisecond << min(max(failures, 0), 6)
	b = min(b, 15*time.Second)
	return b/2 + rand.N(b/2+1)
}

// Sleep waits d or until ctx ends; false when ctx ended first.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
