package lease

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"dist/core/api"
)

// refusing is a controller that answers every request the same way.
type refusing struct {
	ans api.LeaseAnswer
	err error
}

func (r refusing) AcquireLease(context.Context, api.LeaseRequest) (api.LeaseAnswer, error) {
	return r.ans, r.err
}

func (r refusing) RenewLease(context.Context, string, api.LeaseRenew) (api.LeaseAnswer, error) {
	return r.ans, r.err
}

func (r refusing) ReleaseLease(context.Context, string, int64) error { return r.err }

// TestFailClosed: without a lease nothing is admitted, and the Gate says why.
func TestFailClosed(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		ctl    refusing
		phase  string
		reason string
	}{
		{"controller unreachable", refusing{err: errors.New("connection refused")}, PhaseUnreachable, "connection refused"},
		{"budget spent", refusing{ans: api.LeaseAnswer{Reason: "origin byte budget spent until 00:00", RetryMs: 20}}, PhaseWaiting, "budget spent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := New(Config{Controller: tc.ctl, Origin: "http://origin.test", Holder: "h"})
			defer g.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			if _, err := g.Conn(ctx); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Conn without a lease: %v, want to wait until the deadline", err)
			}
			st := g.State()
			if st.Phase != tc.phase || !strings.Contains(st.Reason, tc.reason) {
				t.Errorf("state %+v, want phase %q with %q", st, tc.phase, tc.reason)
			}
		})
	}
}
