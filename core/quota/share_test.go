package quota

import (
	"math"
	"slices"
	"testing"
	"time"
)

func TestWaterfill(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		total float64
		ws    []float64
		wants []float64
		want  []float64
	}{
		{"equal", 90, []float64{1, 1, 1}, []float64{0, 0, 0}, []float64{30, 30, 30}},
		{"weighted", 100, []float64{1, 3}, []float64{0, 0}, []float64{25, 75}},
		{"small want passes surplus on", 90, []float64{1, 1, 1}, []float64{10, 0, 0}, []float64{10, 40, 40}},
		{"cascade", 100, []float64{1, 1, 1, 1}, []float64{5, 20, 0, 0}, []float64{5, 20, 37.5, 37.5}},
		{"everyone satisfied", 100, []float64{1, 2}, []float64{10, 20}, []float64{10, 20}},
		{"nothing to split", 0, []float64{1}, []float64{0}, []float64{0}},
		{"nobody", 10, nil, nil, []float64{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := waterfill(tt.total, tt.ws, tt.wants)
			if len(got) != len(tt.want) {
				t.Fatalf("waterfill = %v, want %v", got, tt.want)
			}
			sum := 0.0
			for i := range got {
				sum += got[i]
				if math.Abs(got[i]-tt.want[i]) > 1e-9 {
					t.Fatalf("waterfill = %v, want %v", got, tt.want)
				}
			}
			if sum > tt.total+1e-9 {
				t.Fatalf("waterfill gives %v in sum, more than %v", sum, tt.total)
			}
		})
	}
}

func TestFillConns(t *testing.T) {
	t.Parallel()
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	mk := func(name string, w float64, want, held int, since time.Duration) *cand {
		c := &cand{holder: name, weight: w, wantConns: want, held: held}
		if held == 0 {
			c.waitSince = base.Add(since)
		} else {
			c.grantedSince = base.Add(since)
		}
		return c
	}
	tests := []struct {
		name  string
		total int
		cs    []*cand
		want  []int
	}{
		{"even", 9, []*cand{mk("a", 1, 0, 3, 0), mk("b", 1, 0, 3, 0), mk("c", 1, 0, 3, 0)}, []int{3, 3, 3}},
		{"holder of the extra keeps it", 10, []*cand{mk("a", 1, 0, 3, 0), mk("b", 1, 0, 3, 0), mk("c", 1, 0, 4, 0)}, []int{3, 3, 4}},
		{"weights", 10, []*cand{mk("a", 1, 0, 0, 0), mk("b", 4, 0, 0, 0)}, []int{2, 8}},
		{"want caps", 10, []*cand{mk("a", 1, 2, 0, 0), mk("b", 1, 0, 0, 0)}, []int{2, 8}},
		{"everyone gets one before anyone gets more", 4, []*cand{mk("big", 20, 0, 0, 0), mk("x", 1, 0, 0, 0), mk("y", 1, 0, 0, 0)}, []int{2, 1, 1}},
		{"short: longest waiter first, then newest holder", 2, []*cand{
			mk("old-holder", 1, 0, 1, 0), mk("new-holder", 1, 0, 1, 10*time.Second),
			mk("waiter", 1, 0, 0, 20*time.Second)}, []int{0, 1, 1}},
		{"short: waiters by time", 1, []*cand{mk("late", 1, 0, 0, 5*time.Second), mk("early", 1, 0, 0, 0)}, []int{0, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			used := fillConns(tt.total, tt.cs)
			var got []int
			sum := 0
			for _, c := range tt.cs {
				got = append(got, c.conns)
				sum += c.conns
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("conns %v, want %v", got, tt.want)
			}
			if sum != used || used > tt.total {
				t.Fatalf("used %d, sum %d, total %d", used, sum, tt.total)
			}
		})
	}
}
