package serve

import "testing"

func TestRangeStart(t *testing.T) {
	for _, c := range []struct {
		h    string
		want int64
	}{
		{"", 0}, {"bytes=10-20", 10}, {"bytes=10-", 10}, {"bytes=-30", 70}, {"bytes=-300", 0},
		{"bytes=5-6, 50-60", 5}, {"items=1-2", 100}, {"bytes=x-1", 100},
	} {
		if got := rangeStart(c.h, 100); got != c.want {
			t.Errorf("rangeStart(%q) = %d, want %d", c.h, got, c.want)
		}
	}
}
