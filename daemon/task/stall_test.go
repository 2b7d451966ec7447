package task

import (
	"log/slog"
	"testing"
	"time"

	"dist/core/api"
	"dist/core/lease"
)

func TestStallText(t *testing.T) {
	t.Parallel()
	budget := lease.State{Origin: "http://o", Phase: lease.PhaseWaiting, Reason: "origin byte budget spent until 00:00"}
	tests := []struct {
		name string
		f    stallFacts
		want string
	}{
		{"budget spent", stallFacts{Role: api.RoleRelay, Gates: []lease.State{budget}},
			"waiting for origin quota: origin byte budget spent until 00:00"},
		{"quota without a reason", stallFacts{Role: api.RoleClient, MetaKnown: true, Gates: []lease.State{{Phase: lease.PhaseWaiting}}},
			"waiting for origin quota"},
		{"leased gate is no cause", stallFacts{Role: api.RoleClient, MetaKnown: true, Peers: 0, Gates: []lease.State{{Phase: lease.PhaseLeased}}},
			"no peers: nobody holds pieces to fetch yet"},
		{"controller away", stallFacts{Role: api.RoleRelay, Gates: []lease.State{{Phase: lease.PhaseUnreachable}}},
			lease.PhaseUnreachable},
		{"client before the metainfo", stallFacts{Role: api.RoleClient},
			"metainfo not yet known: waiting for the relay"},
		{"relay without origin bytes", stallFacts{Role: api.RoleRelay, Still: 7400 * time.Millisecond},
			"no bytes from the origin for 7s"},
		{"no peers", stallFacts{Role: api.RoleClient, MetaKnown: true}, "no peers: nobody holds pieces to fetch yet"},
		{"peers that send nothing", stallFacts{Role: api.RoleClient, MetaKnown: true, Peers: 3, Still: 12 * time.Second},
			"no new bytes for 12s from 3 peers"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := stallText(tc.f); got != tc.want {
				t.Errorf("stallText = %q, want %q", got, tc.want)
			}
		})
	}
}

// A task that does not move says why in its report after stallAfter; the reason clears when
// bytes arrive again and when the task ends.
func TestStallReasonComesAndClears(t *testing.T) {
	t.Parallel()
	tk := New(&Env{Log: slog.New(slog.DiscardHandler)}, api.Task{ID: "d/h/client", DistID: "d", Role: api.RoleClient, Size: 4 << 20})
	start := tk.TakenAt()
	tk.SetState(api.TaskWaiting)
	reason := func(at time.Time) string {
		tk.mu.Lock()
		defer tk.mu.Unlock()
		return tk.stallReason(at)
	}
	if got := reason(start.Add(time.Second)); got != "" {
		t.Fatalf("after 1s: %q, want no reason yet", got)
	}
	if got := reason(start.Add(stallAfter)); got == "" {
		t.Fatal("no reason after stallAfter without a byte")
	}
	tk.Have.Store(1 << 20)
	at := start.Add(stallAfter + time.Second)
	if got := reason(at); got != "" {
		t.Fatalf("bytes arrived: %q, want the reason cleared", got)
	}
	if got := reason(at.Add(stallAfter)); got == "" {
		t.Fatal("no reason once the bytes stopped again")
	}
	tk.Have.Store(4 << 20) // every byte: the copy is being checked, which is no stall
	at = at.Add(stallAfter)
	reason(at)
	if got := reason(at.Add(time.Minute)); got != "" {
		t.Fatalf("every byte here: %q, want no reason", got)
	}
	tk.SetState(api.TaskDone)
	if got := reason(at.Add(time.Hour)); got != "" {
		t.Fatalf("done: %q, want no reason", got)
	}
	if got := tk.Report().Error; got != "" {
		t.Fatalf("report of a done task carries %q", got)
	}
}
