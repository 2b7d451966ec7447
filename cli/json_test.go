package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"dist/core/api"
)

// TestJSONOutput checks that --json prints the API objects, parseable, with their documented
// field names, and nothing else on stdout.
func TestJSONOutput(t *testing.T) {
	tests := []struct {
		name   string
		final  api.DistState
		args   []string
		code   int
		array  bool
		fields []string // keys the (first) object must carry
		check  func(t *testing.T, obj map[string]any)
	}{
		{"push", api.DistActive, []string{"push", "http://origin/app.tar", "--to", "all"}, ExitOK, false,
			[]string{"id", "name", "source", "state", "selectors", "targets", "done", "failed", "created_at"},
			func(t *testing.T, o map[string]any) {
				if o["id"] != "d1" || o["state"] != string(api.DistPending) {
					t.Errorf("id %v state %v, want d1 pending", o["id"], o["state"])
				}
			}},
		{"push wait partial", api.DistPartial, []string{"push", "http://origin/app.tar", "--to", "all", "--wait"}, ExitPartial, false,
			[]string{"id", "state", "targets", "done", "failed", "bytes_bt", "bytes_http_relay", "bytes_http_origin", "assignments"},
			func(t *testing.T, o map[string]any) {
				if o["state"] != string(api.DistPartial) || o["targets"] != 3.0 || o["failed"] != 1.0 {
					t.Errorf("state %v targets %v failed %v, want partial 3 1", o["state"], o["targets"], o["failed"])
				}
			}},
		{"ls", api.DistComplete, []string{"ls"}, ExitOK, true, []string{"id", "name", "state", "size", "targets", "done", "created_at"}, nil},
		{"show", api.DistComplete, []string{"show", "d1"}, ExitOK, false, []string{"id", "state", "assignments"},
			func(t *testing.T, o map[string]any) {
				as, _ := o["assignments"].([]any)
				if len(as) != 3 {
					t.Fatalf("assignments %v, want 3", o["assignments"])
				}
				a := as[0].(map[string]any)
				for _, k := range []string{"id", "dist_id", "host", "role", "state", "have", "bytes_bt", "peers"} {
					if _, ok := a[k]; !ok {
						t.Errorf("assignment lacks %q: %v", k, a)
					}
				}
			}},
		{"hosts", api.DistComplete, []string{"hosts"}, ExitOK, true, []string{"name", "roles", "online", "last_seen"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			isolate(t)
			fc := newFakeController(t, tc.final)
			r := runCLI(t, append([]string{"--json", "-q", "--controller", fc.URL(), "--token", testToken}, tc.args...)...)
			if r.code != tc.code {
				t.Fatalf("exit %d, want %d: %s", r.code, tc.code, r.stderr)
			}
			var obj map[string]any
			if tc.array {
				var arr []map[string]any
				if err := json.Unmarshal([]byte(r.stdout), &arr); err != nil || len(arr) == 0 {
					t.Fatalf("stdout is not a non-empty JSON array (%v): %s", err, r.stdout)
				}
				obj = arr[0]
			} else if err := json.Unmarshal([]byte(r.stdout), &obj); err != nil {
				t.Fatalf("stdout is not one JSON object (%v): %s", err, r.stdout)
			}
			for _, k := range tc.fields {
				if _, ok := obj[k]; !ok {
					t.Errorf("output lacks %q: %s", k, r.stdout)
				}
			}
			if tc.check != nil {
				tc.check(t, obj)
			}
		})
	}
}

// TestJSONErrors checks that with --json a failure leaves stdout empty and puts exactly one JSON
// object {"error","code","exit"} on stderr.
func TestJSONErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		exit int
		code string
	}{
		{"unreachable", []string{"--controller", "CLOSED", "ls"}, ExitUnreachable, "unreachable"},
		{"unauthorized", []string{"--token", "wrong", "hosts"}, ExitUnauthorized, "unauthorized"},
		{"not found", []string{"show", "nope"}, ExitNotFound, "not_found"},
		{"usage", []string{"push", "--frob"}, ExitUsage, "usage"},
		{"missing file", []string{"push", "/no/such/file", "--to", "all"}, ExitSource, "source"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			isolate(t)
			fc := newFakeController(t, api.DistComplete)
			args := append([]string{"--json", "--controller", fc.URL(), "--token", testToken}, tc.args...)
			for i, a := range args {
				if a == "CLOSED" {
					args[i] = closedPort(t)
					args[2] = args[i] // --controller is repeatable: no address may answer
				}
			}
			r := runCLI(t, args...)
			if r.code != tc.exit {
				t.Fatalf("exit %d, want %d: %s", r.code, tc.exit, r.stderr)
			}
			if r.stdout != "" {
				t.Errorf("stdout %q, want it empty", r.stdout)
			}
			if strings.Count(r.stderr, "\n") != 1 {
				t.Errorf("stderr is not one line: %q", r.stderr)
			}
			var e struct {
				Error string `json:"error"`
				Code  string `json:"code"`
				Exit  int    `json:"exit"`
			}
			if err := json.Unmarshal([]byte(r.stderr), &e); err != nil {
				t.Fatalf("stderr is not JSON (%v): %s", err, r.stderr)
			}
			if e.Error == "" || e.Code != tc.code || e.Exit != tc.exit {
				t.Errorf("error object %+v, want code %q exit %d", e, tc.code, tc.exit)
			}
		})
	}
}

func TestHumanTables(t *testing.T) {
	isolate(t)
	fc := newFakeController(t, api.DistPartial)
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"ls"}, []string{"ID  NAME", "SIZE", "DONE", "PROGRESS", "CREATED", "d1", "partial", "10.0 MiB", "2/3 (1 failed)"}},
		{[]string{"show", "d1"}, []string{"State       partial", "HOST", "relay-1", "web2", "disk full", "PEERS"}},
		{[]string{"hosts"}, []string{"NAME", "LAST-SEEN", "ctl", "controller", "yes", "site=ams1", "1h ago"}},
	}
	for _, tc := range tests {
		r := runCLI(t, append([]string{"--controller", fc.URL(), "--token", testToken}, tc.args...)...)
		if r.code != ExitOK {
			t.Fatalf("%v: exit %d: %s", tc.args, r.code, r.stderr)
		}
		for _, w := range tc.want {
			if !strings.Contains(r.stdout, w) {
				t.Errorf("%v: output lacks %q:\n%s", tc.args, w, r.stdout)
			}
		}
		if strings.Contains(r.stdout, "\x1b[") {
			t.Errorf("%v: colour codes in output to a non-terminal", tc.args)
		}
		for _, line := range strings.Split(r.stdout, "\n") {
			if strings.HasSuffix(line, " ") {
				t.Errorf("%v: trailing blanks in %q", tc.args, line)
			}
		}
	}
}
