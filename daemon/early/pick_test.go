package early

import (
	"testing"
	"time"
)

func TestPick(t *testing.T) {
	t.Parallel()
	t0 := time.Unix(1000, 0)
	cutoff := t0.Add(-3 * time.Second)
	old, recent := t0.Add(-10*time.Second), t0.Add(-time.Second)
	bitsOf := func(n int, set ...int) bits {
		b := newBits(n)
		for _, i := range set {
			b.set(i)
		}
		return b
	}
	tests := []struct {
		name    string
		order   []int32
		fresh   int
		given   []uint32
		givenAt []time.Time
		has     bits
		need    bool
		want    int
		ok      bool
	}{
		{name: "nothing landed", given: make([]uint32, 4), givenAt: make([]time.Time, 4), has: bitsOf(4), need: true},
		{name: "first fresh piece in landing order", order: []int32{2, 0, 1}, given: []uint32{0, 0, 0, 0},
			givenAt: make([]time.Time, 4), has: bitsOf(4), want: 2, ok: true},
		{name: "given pieces are skipped", order: []int32{2, 0, 1}, given: []uint32{0, 0, 1, 0},
			givenAt: []time.Time{{}, {}, recent, {}}, has: bitsOf(4), want: 0, ok: true},
		{name: "a fresh piece the client holds is skipped", order: []int32{2, 0}, given: []uint32{0, 0, 0, 0},
			givenAt: make([]time.Time, 4), has: bitsOf(4, 2), want: 0, ok: true},
		{name: "all given, no need: nothing", order: []int32{0, 1}, fresh: 2, given: []uint32{1, 1, 0, 0},
			givenAt: []time.Time{old, old, {}, {}}, has: bitsOf(4)},
		{name: "all given, in need: least given", order: []int32{0, 1}, fresh: 2, given: []uint32{2, 1, 0, 0},
			givenAt: []time.Time{old, old, {}, {}}, has: bitsOf(4), need: true, want: 1, ok: true},
		{name: "in need, a piece given lately keeps its grace", order: []int32{0, 1}, fresh: 2, given: []uint32{2, 1, 0, 0},
			givenAt: []time.Time{old, recent, {}, {}}, has: bitsOf(4), need: true, want: 0, ok: true},
		{name: "in need, only recent gives: nothing yet", order: []int32{0, 1}, fresh: 2, given: []uint32{1, 1, 0, 0},
			givenAt: []time.Time{recent, recent, {}, {}}, has: bitsOf(4), need: true},
		{name: "in need, what the client holds is never given", order: []int32{0, 1}, fresh: 2, given: []uint32{1, 3, 0, 0},
			givenAt: []time.Time{old, old, {}, {}}, has: bitsOf(4, 0), need: true, want: 1, ok: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, ok := pick(tc.order, tc.fresh, tc.given, tc.givenAt, tc.has, tc.need, cutoff)
			if ok != tc.ok || (ok && got != tc.want) {
				t.Errorf("pick = %d, %v; want %d, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}
