package cli

import (
	"testing"

	"dist/core/api"
)

func TestFailureReason(t *testing.T) {
	t.Parallel()
	failed := func(msg string) api.Assignment { return api.Assignment{State: api.TaskFailed, Error: msg} }
	tests := []struct {
		name string
		as   []api.Assignment
		want string
	}{
		{"none failed", []api.Assignment{{State: api.TaskDone}}, ""},
		{"failed without a reason", []api.Assignment{{State: api.TaskFailed}}, ""},
		{"one reason", []api.Assignment{failed("origin answered 404"), failed("origin answered 404")}, ": 2× origin answered 404"},
		{"the most frequent first", []api.Assignment{failed("disk full"), failed("origin answered 404"), failed("origin answered 404")},
			": 2× origin answered 404 (and 1 other reasons: dist report d1)"},
		{"control characters are replaced", []api.Assignment{failed("bad\x1b[31m name")}, ": 1× bad?[31m name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := failureReason(api.Distribution{ID: "d1", Assignments: tc.as}); got != tc.want {
				t.Errorf("failureReason = %q, want %q", got, tc.want)
			}
		})
	}
}
