package controller

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"dist/core/api"
)

// Fuzz targets of the API's JSON bodies and of selectors: what hosts and operators send is
// decoded and checked here without a network. Each holds the checks' promises: what passes them
// is bounded, valid UTF-8 and free of control characters. Seeds are in testdata/fuzz.

// decodeBody decodes body as the route's handler does, under limit (fieldMax as in decodeLimited).
func decodeBody(body []byte, v any, limit int64, fieldMax func(string) int) error {
	r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
	return decodeLimited(httptest.NewRecorder(), r, v, limit, fieldMax)
}

// clean reports whether s is what checkString lets through with max.
func clean(s string, max int) bool {
	if len(s) > max || !utf8.ValidString(s) {
		return false
	}
	return strings.IndexFunc(s, unicode.IsControl) < 0
}

func FuzzReportBody(f *testing.F) {
	f.Add([]byte(`{"host":"h1","tasks":[{"id":"d1/h1/client","state":"running","have":5,"error":"x\u001b[31m","mode_changes":[{"from":"bt","to":"assisting","reason":"slow"}]}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var rep api.Report
		if decodeBody(body, &rep, maxBody, nil) != nil || checkReport(&rep) != nil {
			return
		}
		if !clean(rep.Host, maxNameLen) {
			t.Fatalf("host %q passed the checks", rep.Host)
		}
		for _, tr := range rep.Tasks {
			if !clean(tr.ID, maxIDLen) || !clean(string(tr.State), maxTokenLen) || !clean(tr.Mode, maxTokenLen) {
				t.Fatalf("task %q (state %q, mode %q) passed the checks", tr.ID, tr.State, tr.Mode)
			}
			if !clean(tr.Error, maxTextLen) || !clean(tr.ModeReason, maxTextLen) {
				t.Fatalf("task %q: text %q / %q was not clipped", tr.ID, tr.Error, tr.ModeReason)
			}
			if len(tr.ModeChanges) > maxModeChanges {
				t.Fatalf("task %q keeps %d mode changes", tr.ID, len(tr.ModeChanges))
			}
			for _, c := range tr.ModeChanges {
				if !clean(c.Reason, maxTextLen) {
					t.Fatalf("mode change reason %q was not clipped", c.Reason)
				}
			}
		}
	})
}

func FuzzRegisterBody(f *testing.F) {
	f.Add([]byte(`{"name":"h1","labels":{"site":"paris","rack":"r1"},"roles":["client","relay"],"http_url":"http://10.0.0.1:7700","bt_addr":"10.0.0.1:6881","version":"1.0"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var h api.Host
		if decodeBody(body, &h, maxRegisterBody, nil) != nil || checkHost(h) != nil {
			return
		}
		if !clean(h.Name, maxNameLen) || len(h.Labels) > maxLabels || len(h.Roles) > maxRoles || !clean(h.HTTPURL, maxURLLen) {
			t.Fatalf("host %q passed the checks", h.Name)
		}
		for k, v := range h.Labels {
			if k == "" || strings.Contains(k, "=") || !clean(k, maxNameLen) || !clean(v, maxNameLen) {
				t.Fatalf("label %q=%q passed the checks", k, v)
			}
		}
	})
}

func FuzzLeaseBody(f *testing.F) {
	f.Add([]byte(`{"origin":"https://origin.example:8443/a/b.iso","holder":"h1","conns":4,"rate":1000000,"bandwidth":0.5}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var req api.LeaseRequest
		if decodeBody(body, &req, maxSmallBody, nil) != nil {
			return
		}
		if checkString("origin", req.Origin, maxURLLen) != nil || checkString("holder", req.Holder, maxNameLen) != nil {
			return
		}
		key, err := api.OriginKey(req.Origin)
		if err != nil {
			return
		}
		if key == "" || !clean(key, maxURLLen+16) {
			t.Fatalf("origin %q gave the key %q", req.Origin, key)
		}
		if again, err := api.OriginKey(key); err != nil || again != key {
			t.Fatalf("origin key %q of %q is not its own key (%q, %v)", key, req.Origin, again, err)
		}
	})
}

func FuzzCreateBody(f *testing.F) {
	f.Add([]byte(`{"source":"https://origin.example/f.iso","to":["all","site=paris","h1"],"name":"f.iso","relays":2,"sha256":"` + strings.Repeat("ab", 32) + `","piece_length":4194304}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var req api.CreateDistribution
		if decodeBody(body, &req, maxPushBody, pushFieldMax) != nil {
			return
		}
		// The streaming bounds hold for what was decoded.
		if len(req.Source) > maxURLLen || len(req.Dest) > maxURLLen || len(req.Name) > maxNameLen {
			t.Fatalf("decoded past the field bounds: source %d, dest %d, name %d bytes", len(req.Source), len(req.Dest), len(req.Name))
		}
		if checkPush(req) != nil {
			return
		}
		d, err := (&Server{}).plan(req)
		if err != nil {
			return
		}
		if d.Name == "." || d.Name == ".." || strings.ContainsAny(d.Name, `/\`) {
			t.Fatalf("name %q passed the checks", d.Name)
		}
		for _, sel := range d.Selectors {
			if sel == "" || sel != strings.TrimSpace(sel) || strings.HasPrefix(sel, "=") {
				t.Fatalf("selector %q passed the checks", sel)
			}
		}
		if len(req.Metainfo) > 0 {
			_, _ = parseMetainfo(req.Metainfo)
		}
	})
}

func FuzzSelectors(f *testing.F) {
	f.Add("site=paris", "h1", "site", "paris")
	f.Add(" all ", "h2", "", "")
	f.Add("=x", "h3", "k", "v")
	f.Add("a=b=c", "h4", "a", "b=c")
	f.Fuzz(func(t *testing.T, sel, name, key, value string) {
		h := api.Host{Name: name, Labels: map[string]string{key: value}, Roles: []api.Role{api.RoleClient}}
		if !matches(selectAll, h) {
			t.Fatal("all does not match every host")
		}
		sels, err := cleanSelectors([]string{sel, "", "  "})
		if err != nil {
			return
		}
		if len(sels) != 1 || sels[0] != strings.TrimSpace(sel) || sels[0] == "" {
			t.Fatalf("selectors of %q: %q", sel, sels)
		}
		s := sels[0]
		want := s == name // a host name, or a label key=value
		if k, v, ok := strings.Cut(s, "="); ok {
			want = k == key && v == value
		}
		want = want || s == selectAll
		if got := matches(s, h); got != want {
			t.Fatalf("matches(%q, host %q {%q: %q}) = %v, want %v", s, name, key, value, got, want)
		}
		picked, err := targets(sels, []api.Host{h})
		if (err == nil) != want || (err == nil && len(picked) != 1) {
			t.Fatalf("targets(%q) of host %q {%q: %q}: %v, %v", sels, name, key, value, picked, err)
		}
	})
}
