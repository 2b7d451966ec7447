package controller_test

import (
	"testing"

	"dist/core/api"
	"dist/daemon/controller"
)

func TestDistributionState(t *testing.T) {
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
		current string
		clients []string
		want    string
	}{
		{"all pending", api.DistPending, []string{pe, pe}, api.DistPending},
		{"no clients", api.DistPending, nil, api.DistPending},
		{"one waiting", api.DistPending, []string{pe, wa}, api.DistActive},
		{"one downloading", api.DistPending, []string{dl, pe}, api.DistActive},
		{"some done, some working", api.DistActive, []string{do, dl}, api.DistActive},
		{"done and pending", api.DistActive, []string{do, pe}, api.DistActive},
		{"all done", api.DistActive, []string{do, do}, api.DistComplete},
		{"done and seeding", api.DistActive, []string{do, se}, api.DistComplete},
		{"one failed, rest done", api.DistActive, []string{do, fa, se}, api.DistPartial},
		{"all failed", api.DistActive, []string{fa, fa}, api.DistFailed},
		{"failed and working", api.DistActive, []string{fa, dl}, api.DistActive},
		{"failed and pending", api.DistActive, []string{fa, pe}, api.DistActive},
		{"cancelled stays cancelled", api.DistCancelled, []string{do, do}, api.DistCancelled},
		{"cancelled stays even when pending", api.DistCancelled, []string{pe}, api.DistCancelled},
		{"cancelled clients are left out", api.DistActive, []string{do, ca}, api.DistComplete},
		{"every client cancelled", api.DistActive, []string{ca, ca}, api.DistCancelled},
		{"complete can become partial", api.DistComplete, []string{do, fa}, api.DistPartial},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := controller.DistributionState(tt.current, tt.clients); got != tt.want {
				t.Errorf("DistributionState(%s, %v) = %s, want %s", tt.current, tt.clients, got, tt.want)
			}
		})
	}
}
