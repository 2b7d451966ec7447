package api

import "testing"

func TestDistStateEnded(t *testing.T) {
	t.Parallel()
	for s, want := range map[DistState]bool{
		DistPending: false, DistActive: false, "": false, "unknown": false,
		DistComplete: true, DistPartial: true, DistFailed: true, DistCancelled: true,
	} {
		if got := s.Ended(); got != want {
			t.Errorf("DistState(%q).Ended() = %v, want %v", s, got, want)
		}
	}
}

func TestTaskStateQuestions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		s                                       TaskState
		valid, active, complete, stopped, ended bool
	}{
		{TaskPending, true, true, false, false, false},
		{TaskWaiting, true, true, false, false, false},
		{TaskDownloading, true, true, false, false, false},
		{TaskSeeding, true, false, true, false, true},
		{TaskDone, true, false, true, false, true},
		{TaskFailed, true, false, false, true, true},
		{TaskCancelled, true, false, false, true, true},
		{"", false, false, false, false, false},
		{"finished", false, false, false, false, false},
	}
	for _, tc := range tests {
		got := [5]bool{tc.s.Valid(), tc.s.Active(), tc.s.Complete(), tc.s.Stopped(), tc.s.Ended()}
		want := [5]bool{tc.valid, tc.active, tc.complete, tc.stopped, tc.ended}
		if got != want {
			t.Errorf("TaskState(%q) valid/active/complete/stopped/ended = %v, want %v", tc.s, got, want)
		}
	}
}

func TestRoleQuestions(t *testing.T) {
	t.Parallel()
	for r, want := range map[Role][2]bool{
		RoleController: {true, false}, RoleRelay: {true, true}, RoleClient: {true, true},
		"": {false, false}, "seeder": {false, false},
	} {
		if got := [2]bool{r.Valid(), r.Assignable()}; got != want {
			t.Errorf("Role(%q) valid/assignable = %v, want %v", r, got, want)
		}
	}
}

func TestAssignmentID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		id         string
		dist, host string
		role       Role
		ok         bool
	}{
		{AssignmentID("d1", "client-1", RoleClient), "d1", "client-1", RoleClient, true},
		{AssignmentID("d1", "relay-a", RoleRelay), "d1", "relay-a", RoleRelay, true},
		{"d1/host", "d1", "", "", false},
		{"d1", "d1", "", "", false},
		{"", "", "", "", false},
	}
	for _, tc := range tests {
		dist, host, role, ok := SplitAssignmentID(tc.id)
		if dist != tc.dist || host != tc.host || role != tc.role || ok != tc.ok {
			t.Errorf("SplitAssignmentID(%q) = %q, %q, %q, %v; want %q, %q, %q, %v",
				tc.id, dist, host, role, ok, tc.dist, tc.host, tc.role, tc.ok)
		}
	}
	if got := AssignmentID("d1", "c1", RoleClient); got != "d1/c1/client" {
		t.Errorf("AssignmentID = %q, want d1/c1/client", got)
	}
}
