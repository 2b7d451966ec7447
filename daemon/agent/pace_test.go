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
