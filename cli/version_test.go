package cli

import (
	"encoding/json"
	"runtime"
	"strings"
	"testing"
)

func TestVersion(t *testing.T) {
	isolate(t)
	r := runCLI(t, "version", "--json")
	if r.code != ExitOK || r.stderr != "" {
		t.Fatalf("exit %d stderr %q", r.code, r.stderr)
	}
	var v map[string]string
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
		t.Fatalf("not JSON: %v: %s", err, r.stdout)
	}
	bi := buildInfo()
	want := map[string]string{"version": version(), "go": runtime.Version(), "os": runtime.GOOS, "arch": runtime.GOARCH}
	if bi.Commit != "" {
		want["commit"] = bi.Commit
	}
	if bi.Date != "" {
		want["date"] = bi.Date
	}
	for k, w := range want {
		if v[k] != w {
			t.Errorf("%s = %q, want %q", k, v[k], w)
		}
	}
	if len(v) != len(want) {
		t.Errorf("fields %v, want exactly %v", v, want)
	}

	r = runCLI(t, "version")
	line := bi.String() + "\n"
	if r.code != ExitOK || r.stdout != line {
		t.Errorf("version: exit %d, stdout %q, want %q", r.code, r.stdout, line)
	}
	if strings.Contains(r.stdout, "{") {
		t.Error("human version output contains JSON")
	}
}
