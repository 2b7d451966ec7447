package controller_test

import (
	"testing"

	"dist/core/api"
	"dist/daemon/controller"
)

func TestDistributionState(t *testing.T) {
	t.Parallel()
	const (
		pe = api.TaskPending
		wa = api.TaskWaiting
		dl = api.TaskDownloading
		se = api.TaskSeeding
		do = api.TaskDone
		fa = api.TaskFailed
		ca = api.TaskCancelled
	)
	tests := []struct {
		name    string
		current api.DistState
		clients []api.TaskState
		want    api.DistState
	}{
		{"all pending", api.DistPending, []api.TaskState{pe, pe}, api.DistPending},
		{"no clients", api.DistPending, nil, api.DistPending},
		{"one waiting", api.DistPending, []api.TaskState{pe, wa}, api.DistActive},
		{"one downloading", api.DistPending, []api.TaskState{dl, pe}, api.DistActive},
		{"some done, some working", api.DistActive, []api.TaskState{do, dl}, api.DistActive},
		{"done and pending", api.DistActive, []api.TaskState{do, pe}, api.DistActive},
		{"all done", api.DistActive, []api.TaskState{do, do}, api.DistComplete},
		{"done and seeding", api.DistActive, []api.TaskState{do, se}, api.DistComplete},
		{"one failed, rest done", api.DistActive, []api.TaskState{do, fa, se}, api.DistPartial},
		{"all failed", api.DistActive, []api.TaskState{fa, fa}, api.DistFailed},
		{"failed and working", api.DistActive, []api.TaskState{fa, dl}, api.DistActive},
		{"failed and pending", api.DistActive, []api.TaskState{fa, pe}, api.DistActive},
		{"cancelled stays cancelled", api.DistCancelled, []api.TaskState{do, do}, api.DistCancelled},
		{"cancelled stays even when pending", api.DistCancelled, []api.TaskState{pe}, api.DistCancelled},
		{"cancelled clients are left out", api.DistActive, []api.TaskState{do, ca}, api.DistComplete},
		{"every client cancelled", api.DistActive, []api.TaskState{ca, ca}, api.DistCancelled},
		{"complete can become partial", api.DistComplete, []api.TaskState{do, fa}, api.DistPartial},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := controller.DistributionState(tt.current, tt.clients); got != tt.want {
				t.Errorf("DistributionState(%s, %v) = %s, want %s", tt.current, tt.clients, got, tt.want)
			}
		})
	}
}
