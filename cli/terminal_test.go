package cli

import "testing"

func TestUseColor(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		mode string
		tty  bool
		env  map[string]string
		want bool
	}{
		{"auto terminal", "auto", true, nil, true},
		{"auto pipe", "auto", false, nil, false},
		{"NO_COLOR", "auto", true, map[string]string{"NO_COLOR": "1"}, false},
		{"CLICOLOR_FORCE through a pipe", "auto", false, map[string]string{"CLICOLOR_FORCE": "1"}, true},
		{"CLICOLOR_FORCE=0", "auto", false, map[string]string{"CLICOLOR_FORCE": "0"}, false},
		{"NO_COLOR beats CLICOLOR_FORCE", "auto", true, map[string]string{"NO_COLOR": "1", "CLICOLOR_FORCE": "1"}, false},
		{"dumb terminal", "auto", true, map[string]string{"TERM": "dumb"}, false},
		{"always beats NO_COLOR", "always", false, map[string]string{"NO_COLOR": "1"}, true},
		{"never beats a terminal", "never", true, map[string]string{"CLICOLOR_FORCE": "1"}, false},
	}
	for _, tc := range tests {
		getenv := func(k string) string { return tc.env[k] }
		if got := useColor(tc.mode, tc.tty, getenv); got != tc.want {
			t.Errorf("%s: useColor = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestColorAlways(t *testing.T) {
	isolate(t)
	fc := newFakeController(t, "complete")
	r := runCLI(t, "--color", "always", "--controller", fc.URL(), "--token", testToken, "ls")
	if r.code != ExitOK || !containsANSI(r.stdout) {
		t.Errorf("--color always: exit %d, no styling in %q", r.code, r.stdout)
	}
	t.Setenv("DIST_COLOR", "never")
	t.Setenv("CLICOLOR_FORCE", "1")
	r = runCLI(t, "--controller", fc.URL(), "--token", testToken, "ls")
	if containsANSI(r.stdout) {
		t.Errorf("DIST_COLOR=never: styling in %q", r.stdout)
	}
}

func containsANSI(s string) bool {
	for i := 0; i+1 < len(s); i++ {
		if s[i] == 0x1b && s[i+1] == '[' {
			return true
		}
	}
	return false
}
