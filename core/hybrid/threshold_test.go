package hybrid

import (
	"math"
	"testing"
)

func TestAdaptThreshold(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		base    float64
		size    int64
		network string
		swarm   int
		want    float64
	}{
		{"reference point", 500 * KiB, 4 * GiB, "wan", 10, 500 * KiB},
		{"zero base means default", 0, 4 * GiB, "", 1, 500 * KiB},
		{"unknown size", 500 * KiB, 0, "wan", 1, 500 * KiB},
		{"unknown network", 500 * KiB, 4 * GiB, "satellite", 1, 500 * KiB},
		{"small file halves", 400 * KiB, 100 * MiB, "wan", 1, 200 * KiB},
		{"256 MiB halves", 400 * KiB, 256 * MiB, "wan", 1, 200 * KiB},
		{"1 GiB", 400 * KiB, 1 * GiB, "wan", 1, 400 * KiB / math.Sqrt2},
		{"16 GiB", 400 * KiB, 16 * GiB, "wan", 1, 400 * KiB * math.Sqrt2},
		{"64 GiB doubles", 400 * KiB, 64 * GiB, "wan", 1, 800 * KiB},
		{"256 GiB stops at double", 400 * KiB, 256 * GiB, "wan", 1, 800 * KiB},
		{"lan doubles", 300 * KiB, 4 * GiB, "lan", 1, 600 * KiB},
		{"label case ignored", 300 * KiB, 4 * GiB, " LAN ", 1, 600 * KiB},
		{"cellular halves", 400 * KiB, 4 * GiB, "cellular", 1, 200 * KiB},
		{"100 hosts", 400 * KiB, 4 * GiB, "wan", 100, 300 * KiB},
		{"1000 hosts", 400 * KiB, 4 * GiB, "wan", 1000, 200 * KiB},
		{"100k hosts stops at half", 400 * KiB, 4 * GiB, "wan", 100000, 200 * KiB},
		{"clamped up", 500 * KiB, 10 * MiB, "cellular", 5000, 100 * KiB},
		{"clamped down", 500 * KiB, 100 * GiB, "lan", 1, 1 * MiB},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := AdaptThreshold(tt.base, tt.size, tt.network, tt.swarm)
			if math.Abs(got-tt.want) > 0.5 {
				t.Fatalf("AdaptThreshold(%.0f, %d, %q, %d) = %.1f, want %.1f",
					tt.base, tt.size, tt.network, tt.swarm, got, tt.want)
			}
		})
	}
}

func TestAdaptThresholdMonotonic(t *testing.T) {
	t.Parallel()
	// Bigger files never lower the threshold; bigger swarms never raise it.
	prev := 0.0
	for size := int64(MiB); size <= 512*GiB; size *= 2 {
		got := AdaptThreshold(500*KiB, size, "wan", 1)
		if got < prev {
			t.Fatalf("threshold fell from %.0f to %.0f at size %d", prev, got, size)
		}
		prev = got
	}
	prev = math.Inf(1)
	for n := 1; n <= 1_000_000; n *= 3 {
		got := AdaptThreshold(500*KiB, 4*GiB, "wan", n)
		if got > prev {
			t.Fatalf("threshold rose from %.0f to %.0f at swarm %d", prev, got, n)
		}
		prev = got
	}
}
