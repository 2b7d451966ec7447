package task

import (
	"slices"
	"time"

	"dist/core/api"
)

const (
	// modeReports is how many reports carry each mode change, so one lost report loses none.
	modeReports = 3
	// maxModeLog bounds the mode changes kept per task.
	maxModeLog = 64
)

// modeState is the task's view of its hybrid mode, guarded by Task.mu.
type modeState struct {
	mode, reason string
	log          []modeEntry
}

type modeEntry struct {
	change api.ModeChange
	sent   int
}

// toReport answers the changes still to be repeated in reports; send counts this report as one
// of their repeats.
func (m *modeState) toReport(send bool) []api.ModeChange {
	var out []api.ModeChange
	for i := range m.log {
		if m.log[i].sent < modeReports {
			if send {
				m.log[i].sent++
			}
			out = append(out, m.log[i].change)
		}
	}
	return out
}

// SetMode publishes the client's hybrid mode and why; a change is logged for the reports.
func (t *Task) SetMode(mode, reason string, changed bool, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	from := t.mode.mode
	t.mode.mode, t.mode.reason = mode, reason
	if !changed {
		return
	}
	if len(t.mode.log) >= maxModeLog {
		t.mode.log = slices.Delete(t.mode.log, 0, 1)
	}
	t.mode.log = append(t.mode.log, modeEntry{change: api.ModeChange{AtMs: at.UnixMilli(), From: from, To: mode, Reason: reason}})
}

// ModeChanges answers every mode change kept, oldest first.
func (t *Task) ModeChanges() []api.ModeChange {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]api.ModeChange, 0, len(t.mode.log))
	for _, e := range t.mode.log {
		out = append(out, e.change)
	}
	return out
}
