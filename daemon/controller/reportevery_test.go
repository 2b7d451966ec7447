package controller_test

import (
	"testing"
	"time"

	"dist/daemon/controller"
)

// The progress interval grows with the fleet so the controller sees about a thousand progress
// reports a second, between one second and ten.
func TestReportEveryGrowsWithTheFleet(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		hosts int
		want  time.Duration
	}{
		{0, time.Second}, {16, time.Second}, {1000, time.Second}, {2500, 2500 * time.Millisecond},
		{10_000, 10 * time.Second}, {100_000, 10 * time.Second},
	} {
		if got := controller.ReportEvery(tc.hosts); got != tc.want {
			t.Errorf("ReportEvery(%d) = %s, want %s", tc.hosts, got, tc.want)
		}
	}
}

// The tracker interval grows the same way: about 500 peers asks a second, between 5 s and a
// minute.
func TestPeersEveryGrowsWithTheFleet(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		hosts int
		want  time.Duration
	}{
		{0, 5 * time.Second}, {1000, 5 * time.Second}, {2500, 5 * time.Second}, {5000, 10 * time.Second},
		{10_000, 20 * time.Second}, {100_000, time.Minute},
	} {
		if got := controller.PeersEvery(tc.hosts); got != tc.want {
			t.Errorf("PeersEvery(%d) = %s, want %s", tc.hosts, got, tc.want)
		}
	}
}
