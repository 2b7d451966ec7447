package agent

import (
	"testing"
	"time"
)

// A state change is reported at once at the shortest interval; in a big fleet within a fifth of
// the interval, spread.
func TestStateReportDelay(t *testing.T) {
	t.Parallel()
	if d := StateReportDelay(ReportEvery); d != 0 {
		t.Errorf("delay at the shortest interval %s, want none", d)
	}
	seen := map[time.Duration]bool{}
	for range 100 {
		d := StateReportDelay(10 * time.Second)
		if d < 0 || d >= 2*time.Second {
			t.Fatalf("delay %s at a 10 s interval, want within [0, 2 s)", d)
		}
		seen[d] = true
	}
	if len(seen) < 50 {
		t.Errorf("100 delays took only %d values: not spread", len(seen))
	}
}

// The heartbeat interval is the controller's word within the agent's bounds.
func TestIdleInterval(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		ms   int64
		want time.Duration
	}{
		{1, IdleReportEvery}, {10_000, IdleReportEvery}, {50_000, 50 * time.Second},
		{120_000, 2 * time.Minute}, {3_600_000, MaxIdleReportEvery},
	} {
		if got := IdleInterval(tc.ms); got != tc.want {
			t.Errorf("IdleInterval(%d) = %s, want %s", tc.ms, got, tc.want)
		}
	}
}
