package controller_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"dist/core/api"
)

// A report naming more tasks than any host holds is refused whole, with the bound in the message.
func TestReportNamesBoundedTasks(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.fleet()
	tasks := make([]api.TaskReport, 4097)
	for i := range tasks {
		tasks[i] = api.TaskReport{ID: fmt.Sprintf("d%d/c1/client", i), State: api.TaskDownloading}
	}
	err := e.host.Report(ctxT(t), api.Report{Host: "c1", Tasks: tasks})
	if code, _ := statusCode(t, err); code != http.StatusBadRequest || !strings.Contains(err.Error(), "at most 4096") {
		t.Fatalf("report of 4097 tasks: %d %v, want 400 naming the bound", code, err)
	}
	e.report("c1") // an empty one still goes
}
