package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"dist/core/api"
)

func TestExitCodes(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "image.raw")
	if err := os.WriteFile(file, []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.img")

	tests := []struct {
		name   string
		final  api.DistState // state the fake controller reports when asked
		args   []string      // after --controller/--token
		code   int
		stdout string // substring expected on stdout ("" = must be empty)
		stderr string // substring expected on the one stderr line ("" = must be empty)
	}{
		{"push prints the id", api.DistActive, []string{"push", "http://origin/app.tar", "--to", "all"}, ExitOK, "d1\n", ""},
		{"wait complete", api.DistComplete, []string{"push", "http://origin/app.tar", "--to", "all", "--wait", "-q"}, ExitOK, "complete: 3/3", ""},
		{"wait partial", api.DistPartial, []string{"push", "http://origin/app.tar", "--to", "all", "--wait", "-q"}, ExitPartial, "partial", "1 of 3 targets failed: 1× disk full"},
		{"wait failed", api.DistFailed, []string{"push", "http://origin/app.tar", "--to", "all", "--wait", "-q"}, ExitFailed, "failed", "failed on every target: 1× disk full"},
		{"wait cancelled", api.DistCancelled, []string{"push", "http://origin/app.tar", "--to", "all", "--wait", "-q"}, ExitFailed, "cancelled", "was cancelled"},
		{"wait timeout", api.DistActive, []string{"push", "http://origin/app.tar", "--to", "all", "--wait", "--timeout", "50ms", "-q"}, ExitTimeout, "active", "timed out after 50ms"},
		{"bad token", api.DistActive, []string{"--token", "wrong", "ls"}, ExitUnauthorized, "", "controller refused the token: set --token or DIST_TOKEN"},
		{"unknown selector", api.DistActive, []string{"push", "http://origin/app.tar", "--to", "web1,nosuchhost"}, ExitNotFound, "", "no host matches selector nosuchhost"},
		{"unknown distribution", api.DistActive, []string{"show", "nosuchid"}, ExitNotFound, "", "no such distribution: nosuchid"},
		{"origin error", api.DistActive, []string{"push", "http://origin/missing.tar", "--to", "all"}, ExitSource, "", "origin answered 404"},
		{"missing local file", api.DistActive, []string{"push", missing, "--to", "all"}, ExitSource, "", "no such file: " + missing},
		{"directory source", api.DistActive, []string{"push", dir, "--to", "all"}, ExitSource, "", "is a directory"},
		{"local daemon down", api.DistActive, []string{"--socket", filepath.Join(dir, "none.sock"), "push", file, "--to", "all"}, ExitUnreachable, "", "cannot reach the local daemon at"},
		{"unknown flag", api.DistActive, []string{"push", "--frob"}, ExitUsage, "", "unknown flag --frob"},
		{"missing selector", api.DistActive, []string{"push", "http://origin/app.tar"}, ExitUsage, "", "--to"},
		{"bad sha256", api.DistActive, []string{"push", "http://origin/app.tar", "--to", "all", "--sha256", "xyz"}, ExitUsage, "", "--sha256"},
		{"timeout without wait", api.DistActive, []string{"push", "http://origin/app.tar", "--to", "all", "--timeout", "1m"}, ExitUsage, "", "--wait"},
		{"bad piece size", api.DistActive, []string{"push", "http://origin/app.tar", "--to", "all", "--piece-size", "4 parsecs"}, ExitUsage, "", "invalid size"},
		{"bad role", api.DistActive, []string{"daemon", "--role", "relay,boss"}, ExitUsage, "", "--role"},
		{"no command", api.DistActive, nil, ExitUsage, "", "expected one of"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			isolate(t)
			fc := newFakeController(t, tc.final)
			args := append([]string{"--controller", fc.URL(), "--token", testToken}, tc.args...)
			r := runCLI(t, args...)
			if r.code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, tc.code, r.stdout, r.stderr)
			}
			if tc.stdout == "" && r.stdout != "" {
				t.Errorf("stdout %q, want it empty", r.stdout)
			}
			if !strings.Contains(r.stdout, tc.stdout) {
				t.Errorf("stdout %q does not contain %q", r.stdout, tc.stdout)
			}
			if tc.stderr == "" {
				if r.stderr != "" {
					t.Errorf("stderr %q, want it empty", r.stderr)
				}
				return
			}
			if lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n"); len(lines) != 1 || !strings.HasPrefix(r.stderr, "dist: ") {
				t.Errorf("want one line starting with \"dist: \" on stderr, got %q", r.stderr)
			}
			if !strings.Contains(r.stderr, tc.stderr) {
				t.Errorf("stderr %q does not contain %q", r.stderr, tc.stderr)
			}
		})
	}
}

// TestWaitPolls follows a distribution through a few polls until it completes.
func TestWaitPolls(t *testing.T) {
	isolate(t)
	fc := newFakeController(t, api.DistComplete)
	fc.active = 2
	r := runCLI(t, "--controller", fc.URL(), "--token", testToken, "push", "http://origin/app.tar", "--to", "all", "--wait", "--timeout", "1m")
	if r.code != ExitOK || !strings.HasPrefix(r.stdout, "d1 complete: 3/3 targets done") || r.stderr != "" {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if fc.active != 0 {
		t.Errorf("stopped polling with %d active answers left", fc.active)
	}
}

// TestInterrupted stands in for SIGINT while push --wait polls: the context is cancelled from the
// fake controller's first answer.
func TestInterrupted(t *testing.T) {
	isolate(t)
	fc := newFakeController(t, api.DistActive)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fc.onGet = cancel
	var out, errb bytes.Buffer
	code := run(ctx, []string{"--controller", fc.URL(), "--token", testToken, "push", "http://origin/a", "--to", "all", "--wait"}, &out, &errb)
	if code != ExitInterrupted || !strings.Contains(errb.String(), "distribution d1 goes on") {
		t.Errorf("exit %d stderr %q, want %d naming d1", code, errb.String(), ExitInterrupted)
	}
}

func TestUnreachableController(t *testing.T) {
	isolate(t)
	url := closedPort(t)
	for _, args := range [][]string{{"ls"}, {"hosts"}, {"show", "d1"}, {"push", "http://origin/a", "--to", "all"}} {
		r := runCLI(t, append([]string{"--controller", url}, args...)...)
		if r.code != ExitUnreachable {
			t.Errorf("%v: exit %d, want %d (%s)", args, r.code, ExitUnreachable, r.stderr)
		}
		want := "dist: cannot reach controller at " + url + ": "
		if !strings.HasPrefix(r.stderr, want) || !strings.HasSuffix(r.stderr, "is it running? set --controller or DIST_CONTROLLER\n") {
			t.Errorf("%v: stderr %q", args, r.stderr)
		}
	}
}

func TestPushLocalFile(t *testing.T) {
	isolate(t)
	fc := newFakeController(t, api.DistComplete)
	fl := newFakeLocal(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "image.raw")
	if err := os.WriteFile(file, []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A relative path must reach the daemon as an absolute one: the daemon has its own cwd.
	t.Chdir(dir)
	r := runCLI(t, "--controller", fc.URL(), "--token", testToken, "--socket", fl.socket,
		"push", "image.raw", "--to", "web1,web2", "--to", "site=ams1", "--piece-size", "4MiB", "--relays", "2")
	if r.code != ExitOK || r.stdout != "d1\n" {
		t.Fatalf("exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
	pubs := fl.requests()
	if len(pubs) != 1 || pubs[0].Path != file || pubs[0].PieceLen != 4<<20 {
		t.Fatalf("publish requests %+v, want path %s piece 4 MiB", pubs, file)
	}
	reqs := fc.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d create requests, want 1", len(reqs))
	}
	got := reqs[0]
	if got.Source != "http://pub1:7700/v1/content/x" || got.Publisher != "pub1" || got.Name != "image.raw" ||
		got.SHA256 != strings.Repeat("ab", 32) || len(got.Metainfo) == 0 || got.Relays != 2 || got.PieceLen != 4<<20 {
		t.Errorf("create request %+v does not carry the publisher's answer", got)
	}
	if !slices.Equal(got.To, []string{"web1", "web2", "site=ams1"}) {
		t.Errorf("selectors %q, want web1 web2 site=ams1", got.To)
	}

	// --sha256 overrides the daemon's checksum; nothing else does.
	sum := strings.Repeat("0f", 32)
	if r := runCLI(t, "--controller", fc.URL(), "--token", testToken, "--socket", fl.socket,
		"push", file, "--to", "all", "--sha256", sum); r.code != ExitOK {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if reqs := fc.requests(); reqs[1].SHA256 != sum {
		t.Errorf("sha256 %q, want the flag's %q", reqs[1].SHA256, sum)
	}
}

func TestExitCodeTable(t *testing.T) {
	t.Parallel()
	codes, names := map[int]bool{}, map[string]bool{}
	for _, e := range ExitCodes {
		if codes[e.Code] || names[e.Name] {
			t.Errorf("duplicate exit code %d or name %q", e.Code, e.Name)
		}
		codes[e.Code], names[e.Name] = true, true
		if e.Meaning == "" {
			t.Errorf("exit code %d has no meaning", e.Code)
		}
		if exitName(e.Code) != e.Name {
			t.Errorf("exitName(%d) = %q, want %q", e.Code, exitName(e.Code), e.Name)
		}
	}
	for _, c := range []int{ExitOK, ExitError, ExitPartial, ExitFailed, ExitUnreachable, ExitUnauthorized,
		ExitNotFound, ExitSource, ExitTimeout, ExitUsage, ExitInterrupted} {
		if !codes[c] {
			t.Errorf("exit code %d is not documented in ExitCodes", c)
		}
	}
}
