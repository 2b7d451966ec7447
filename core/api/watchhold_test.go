package api

import (
	"strconv"
	"testing"
	"time"
)

// A host's hold is its own and lies within the spread; a fleet's holds cover the spread, so the
// watches of a fleet woken together do not all come back in the same second.
func TestWatchHoldSpreadsAFleet(t *testing.T) {
	t.Parallel()
	seconds := map[int]int{}
	for i := range 1000 {
		name := "host-" + strconv.Itoa(i)
		h := WatchHold(name)
		if h > WatchPollTimeout || h <= WatchPollTimeout-watchHoldSpread {
			t.Fatalf("WatchHold(%s) = %v, want within (%v, %v]", name, h, WatchPollTimeout-watchHoldSpread, WatchPollTimeout)
		}
		if again := WatchHold(name); again != h {
			t.Fatalf("WatchHold(%s) = %v, then %v: it must not change", name, h, again)
		}
		seconds[int((WatchPollTimeout-h)/time.Second)]++
	}
	for s := range int(watchHoldSpread / time.Second) {
		if n := seconds[s]; n < 100 {
			t.Errorf("%d of 1000 holds end in second %d of the spread, want about 200", n, s)
		}
	}
}
