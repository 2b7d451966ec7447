package cli

import (
	"testing"
	"time"

	"dist/core/api"
)

func TestPushDeadlineAndPriority(t *testing.T) {
	isolate(t)
	fc := newFakeController(t, api.DistComplete)
	before := time.Now()
	r := runCLI(t, "--controller", fc.URL(), "--token", testToken, "push", "http://o/f.img", "--to", "all",
		"--deadline", "2h", "--priority", "7")
	if r.code != ExitOK {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	reqs := fc.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d create requests, want 1", len(reqs))
	}
	got := reqs[0]
	if got.Priority != 7 {
		t.Errorf("priority %d, want 7", got.Priority)
	}
	if d := got.Deadline.Sub(before); d < 2*time.Hour || d > 2*time.Hour+time.Minute {
		t.Errorf("deadline %s after the push, want 2h", d)
	}
	for _, bad := range [][]string{{"--priority", "101"}, {"--deadline", "-1h"}} {
		args := append([]string{"--controller", fc.URL(), "--token", testToken, "push", "http://o/f.img", "--to", "all"}, bad...)
		if r := runCLI(t, args...); r.code != ExitUsage {
			t.Errorf("%v: exit %d, want usage %d", bad, r.code, ExitUsage)
		}
	}
}
