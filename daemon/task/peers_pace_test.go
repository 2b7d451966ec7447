package task_test

import (
	"testing"
	"time"

	"dist/daemon/task"
)

// A small fleet asks the tracker as it always did (at once, then 300 ms doubling to 5 s); a big
// one spreads its first ask over a tenth of the interval and each later wait by ±25 %.
func TestPeersAsksSpreadInABigFleet(t *testing.T) {
	t.Parallel()
	if d := task.FirstPeersAsk(task.PeersEvery); d != 0 {
		t.Errorf("first ask in a small fleet after %s, want at once", d)
	}
	if d := task.KickedPeersAsk(task.PeersEvery); d != 0 {
		t.Errorf("ask after the metainfo came in a small fleet after %s, want at once", d)
	}
	var waits []time.Duration
	for w := time.Duration(0); len(waits) < 6; {
		w = task.NextPeersAsk(w, task.PeersEvery)
		waits = append(waits, w)
	}
	want := []time.Duration{300 * time.Millisecond, 600 * time.Millisecond, 1200 * time.Millisecond,
		2400 * time.Millisecond, 4800 * time.Millisecond, 5 * time.Second}
	for i := range want {
		if waits[i] != want[i] {
			t.Fatalf("waits in a small fleet %v, want %v", waits, want)
		}
	}
	const every = 20 * time.Second // a 10,000-host fleet
	firsts := map[time.Duration]bool{}
	for range 200 {
		d := task.FirstPeersAsk(every)
		if d < 0 || d >= every/10 {
			t.Fatalf("first ask after %s, want within [0, %s)", d, every/10)
		}
		if k := task.KickedPeersAsk(every); k < 0 || k >= every/4 {
			t.Fatalf("ask after the metainfo came after %s, want within [0, %s)", k, every/4)
		}
		firsts[d] = true
		for prev := time.Duration(0); prev < every; {
			w := task.NextPeersAsk(prev, every)
			base := min(max(prev*2, every/4), every)
			if w < base*3/4 || w > base*5/4 {
				t.Fatalf("wait after %s = %s, want %s ±25 %%", prev, w, base)
			}
			prev = base
		}
	}
	if len(firsts) < 100 {
		t.Errorf("200 first asks at only %d distinct moments: not spread", len(firsts))
	}
}
