package cli

import (
	"crypto/tls"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"dist/core/api"
	"dist/core/pki"
)

// reportServer answers GET /v1/distributions/d1/report with r over TLS, under a CA the CLI
// trusts through DIST_CA_FILE (call it after isolate).
func reportServer(t *testing.T, r api.DistReport) string {
	t.Helper()
	ca, _, err := pki.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodGet || req.URL.Path != "/v1/distributions/d1/report" || req.Header.Get("Authorization") != "Bearer "+testToken {
			writeJSON(w, http.StatusNotFound, api.Error{Error: "no route " + req.URL.Path, Code: api.CodeNotFound})
			return
		}
		writeJSON(w, http.StatusOK, r)
	}))
	srv.TLS = ca.ServerConfig()
	cert, err := ca.ServingCertificate(nil)
	if err != nil {
		t.Fatal(err)
	}
	srv.TLS.Certificates = []tls.Certificate{*cert}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	t.Setenv("DIST_CA_FILE", ca.CertFile())
	return srv.URL
}

// dist report says what the targets did not fetch (zero pieces, pieces kept from the older
// version) on a "Not sent" line, only when there is any; --json carries the figures as is.
func TestReportPrintsNotSent(t *testing.T) {
	base := api.DistReport{
		ID: "d1", Name: "disk.img", State: api.DistComplete, Size: 64 << 20,
		CreatedAt: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC), Targets: 2, Done: 2, Progress: 1,
		Bytes: api.BytesBySource{BT: 20 << 20},
	}
	saved := base
	saved.Bytes.Zero, saved.Bytes.Kept = 90<<20, 18<<20
	for _, tc := range []struct {
		name string
		r    api.DistReport
		want string // in the table; "" wants no "Not sent" line
	}{
		{"zero and kept", saved, "90.0 MiB zero pieces written by the targets, 18.0 MiB kept from the version they held"},
		{"nothing saved", base, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			isolate(t)
			url := reportServer(t, tc.r)
			r := runCLI(t, "--controller", url, "--token", testToken, "report", "d1")
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			var line string
			for _, l := range strings.Split(r.stdout, "\n") {
				if strings.Contains(l, "Not sent") {
					line = l
				}
			}
			switch {
			case tc.want == "" && line != "":
				t.Errorf("a Not sent line with nothing saved: %q", line)
			case tc.want != "" && !strings.Contains(line, tc.want):
				t.Errorf("Not sent line %q, want it to say %q; output:\n%s", line, tc.want, r.stdout)
			}

			r = runCLI(t, "--controller", url, "--token", testToken, "--json", "report", "d1")
			var got api.DistReport
			if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || r.code != 0 {
				t.Fatalf("--json: exit %d, %v: %s", r.code, err, r.stdout)
			}
			if got.Bytes != tc.r.Bytes {
				t.Errorf("--json bytes %+v, want %+v", got.Bytes, tc.r.Bytes)
			}
		})
	}
}
