package task

import (
	"log/slog"
	"testing"
	"time"

	"dist/core/api"
)

// Looking at a task (status, metrics) never uses up the repeats of a mode change: only reports
// sent to the controller do, so the controller always gets each change.
func TestLooksDoNotUseUpModeChanges(t *testing.T) {
	t.Parallel()
	tk := New(&Env{Log: slog.New(slog.DiscardHandler)}, api.Task{ID: "d/h/client", DistID: "d", Role: api.RoleClient})
	tk.SetMode("http-main", "no bt peer for 2s", true, time.Unix(1, 0))
	for range 10 {
		if n := len(tk.Report().ModeChanges); n != 1 {
			t.Fatalf("a look carries %d mode changes, want 1", n)
		}
	}
	for i := range modeReports {
		if n := len(tk.Outgoing().ModeChanges); n != 1 {
			t.Fatalf("report %d to the controller carries %d mode changes, want 1", i+1, n)
		}
	}
	if n := len(tk.Outgoing().ModeChanges); n != 0 {
		t.Errorf("after %d reports the change is still sent (%d)", modeReports, n)
	}
}
