package controller_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"dist/core/api"
)

// send posts v as JSON with token and answers the status and the error body.
func send(t *testing.T, method, url, token string, v any) (int, api.Error) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(ctxT(t), method, url, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e api.Error
	_ = json.NewDecoder(resp.Body).Decode(&e)
	return resp.StatusCode, e
}

// TestStringLimits: every string field of every request is bounded in length and refused with a
// control character, with a 400 naming the field and the limit.
func TestStringLimits(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.fleet()
	d := e.create("all")
	long := func(n int) string { return strings.Repeat("x", n) }
	push := func(f func(*api.CreateDistribution)) api.CreateDistribution {
		req := api.CreateDistribution{Source: "http://origin.test/files/image.iso", To: []string{"all"}}
		f(&req)
		return req
	}
	host := func(f func(*api.Host)) api.Host {
		h := api.Host{Name: "h9", Roles: []api.Role{api.RoleClient}}
		f(&h)
		return h
	}
	task := func(f func(*api.TaskReport)) api.Report {
		tr := api.TaskReport{ID: api.AssignmentID(d.ID, "c1", api.RoleClient), State: api.TaskDownloading}
		f(&tr)
		return api.Report{Host: "c1", Tasks: []api.TaskReport{tr}}
	}
	tests := []struct {
		name, method, path, token string
		body                      any
		want                      string // in the message: the field and the limit
	}{
		{"push name NUL", "POST", "/v1/distributions", adminToken, push(func(r *api.CreateDistribution) { r.Name = "a\x00b" }), "name holds the control character U+0000"},
		{"push name long", "POST", "/v1/distributions", adminToken, push(func(r *api.CreateDistribution) { r.Name = long(256) }), "name is longer than 255 bytes"},
		{"push source long", "POST", "/v1/distributions", adminToken, push(func(r *api.CreateDistribution) { r.Source = "http://o.test/" + long(5000) }), "source is longer than 4096 bytes"},
		{"push source newline", "POST", "/v1/distributions", adminToken, push(func(r *api.CreateDistribution) { r.Source = "http://o.test/a\nb" }), "source holds the control character U+000A"},
		{"push dest NUL", "POST", "/v1/distributions", adminToken, push(func(r *api.CreateDistribution) { r.Dest = "/srv/a\x00" }), "dest holds the control character"},
		{"push dest long", "POST", "/v1/distributions", adminToken, push(func(r *api.CreateDistribution) { r.Dest = "/" + long(4096) }), "dest is longer than 4096 bytes"},
		{"push selector long", "POST", "/v1/distributions", adminToken, push(func(r *api.CreateDistribution) { r.To = []string{long(600)} }), "to is longer than 511 bytes"},
		{"push selector NUL", "POST", "/v1/distributions", adminToken, push(func(r *api.CreateDistribution) { r.To = []string{"site=a\x00"} }), "selector holds the control character"},
		{"push selectors many", "POST", "/v1/distributions", adminToken, push(func(r *api.CreateDistribution) { r.To = make([]string, 1025) }), "the limit is 1024"},
		{"push publisher NUL", "POST", "/v1/distributions", adminToken, push(func(r *api.CreateDistribution) { r.Publisher = "\x00" }), "publisher holds the control character"},
		{"push sha256 long", "POST", "/v1/distributions", adminToken, push(func(r *api.CreateDistribution) { r.SHA256 = long(300) }), "sha256 is longer than 255 bytes"},
		{"register name NUL", "POST", "/v1/hosts", hostToken, host(func(h *api.Host) { h.Name = "h\x00" }), "host name holds the control character"},
		{"register name long", "POST", "/v1/hosts", hostToken, host(func(h *api.Host) { h.Name = long(256) }), "host name is 256 bytes long: the limit is 255 bytes"},
		{"register label value", "POST", "/v1/hosts", hostToken, host(func(h *api.Host) { h.Labels = map[string]string{"site": long(256)} }), "label site is 256 bytes long"},
		{"register label name", "POST", "/v1/hosts", hostToken, host(func(h *api.Host) { h.Labels = map[string]string{"a\tb": "x"} }), "label name holds the control character"},
		{"register label with =", "POST", "/v1/hosts", hostToken, host(func(h *api.Host) { h.Labels = map[string]string{"a=b": "x"} }), "holds '='"},
		{"register labels many", "POST", "/v1/hosts", hostToken, host(func(h *api.Host) {
			h.Labels = map[string]string{}
			for i := range 65 {
				h.Labels[strings.Repeat("k", i+1)] = "v"
			}
		}), "the limit is 64"},
		{"register http_url", "POST", "/v1/hosts", hostToken, host(func(h *api.Host) { h.HTTPURL = "http://h/" + long(4096) }), "http_url is 4105 bytes long: the limit is 4096 bytes"},
		{"register bt_addr", "POST", "/v1/hosts", hostToken, host(func(h *api.Host) { h.BTAddr = "h:1\x00" }), "bt_addr holds the control character"},
		{"register version", "POST", "/v1/hosts", hostToken, host(func(h *api.Host) { h.Version = long(300) }), "version is 300 bytes long"},
		{"report host", "POST", "/v1/report", hostToken, api.Report{Host: "c\x001"}, "host holds the control character"},
		{"report task id", "POST", "/v1/report", hostToken, task(func(tr *api.TaskReport) { tr.ID = long(600) }), "task id is 600 bytes long: the limit is 512 bytes"},
		{"report task id NUL", "POST", "/v1/report", hostToken, task(func(tr *api.TaskReport) { tr.ID += "\x00" }), "task id holds the control character"},
		{"report mode", "POST", "/v1/report", hostToken, task(func(tr *api.TaskReport) { tr.Mode = long(65) }), "mode of task"},
		{"report error code", "POST", "/v1/report", hostToken, task(func(tr *api.TaskReport) { tr.ErrorCode = "x\x00" }), "error_code of task"},
		{"report mode change", "POST", "/v1/report", hostToken, task(func(tr *api.TaskReport) {
			tr.ModeChanges = []api.ModeChange{{AtMs: 1, From: "bt", To: long(100)}}
		}), "mode change of task"},
		{"origin policy", "PUT", "/v1/origins", adminToken, api.OriginUpdate{Origin: "http://o.test/" + long(4096)}, "origin is 4110 bytes long: the limit is 4096 bytes"},
		{"lease holder", "POST", "/v1/leases", hostToken, api.LeaseRequest{Origin: "http://o.test", Holder: "c1\x00"}, "holder holds the control character"},
		{"lease origin", "POST", "/v1/leases", hostToken, api.LeaseRequest{Origin: "http://o.test/" + long(4096), Holder: "c1"}, "origin is 4110 bytes long"},
		{"watch host", "GET", "/v1/watch?host=c1%00", hostToken, nil, "host holds the control character"},
		{"peers host", "GET", "/v1/distributions/" + d.ID + "/peers?host=" + long(300), hostToken, nil, "host is 300 bytes long"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st, got := send(t, tt.method, e.url+tt.path, tt.token, tt.body)
			if st != http.StatusBadRequest || got.Code != api.CodeBadRequest || !strings.Contains(got.Error, tt.want) {
				t.Fatalf("%d %s %q, want 400 bad_request with %q", st, got.Code, got.Error, tt.want)
			}
			if len(got.Error) > 300 {
				t.Errorf("the message is %d bytes: it echoes the value", len(got.Error))
			}
		})
	}
	if ds, err := e.st.Distributions(ctxT(t)); err != nil || len(ds) != 1 {
		t.Fatalf("distributions after refused pushes: %d (%v), want 1", len(ds), err)
	}
	if _, err := e.st.Host(ctxT(t), "h9"); err == nil {
		t.Fatal("a refused registration stored host h9")
	}
}

// TestHostTextClipped: error and reason text from hosts is cut to 1024 bytes and cleaned, never
// refused: the report's progress is kept.
func TestHostTextClipped(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.fleet()
	d := e.create("all")
	id := api.AssignmentID(d.ID, "c1", api.RoleClient)
	e.report("c1", api.TaskReport{ID: id, State: api.TaskFailed, Have: 77,
		Error: "disk\x00full\n" + strings.Repeat("é", 5000), ModeReason: strings.Repeat("r", 3000)})
	a := e.assignment(d, "c1", api.RoleClient)
	if a.State != api.TaskFailed || a.Have != 77 {
		t.Fatalf("assignment = %s have %d, want the report kept", a.State, a.Have)
	}
	if len(a.Error) > 1024 || !strings.HasPrefix(a.Error, "disk full ") || !strings.HasSuffix(a.Error, "…") {
		t.Fatalf("error kept as %d bytes %.40q…, want at most 1024, cleaned and marked cut", len(a.Error), a.Error)
	}
	if len(a.ModeReason) > 1024 {
		t.Fatalf("mode reason kept as %d bytes", len(a.ModeReason))
	}
}

// countingReader yields n bytes of a JSON push whose name is huge, counting what was read.
type countingReader struct {
	head, tail []byte
	n, off     int64
	read       atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	total := int64(len(c.head)) + c.n + int64(len(c.tail))
	if c.off >= total {
		return 0, io.EOF
	}
	k := 0
	for k < len(p) && c.off < total {
		switch {
		case c.off < int64(len(c.head)):
			p[k] = c.head[c.off]
		case c.off < int64(len(c.head))+c.n:
			p[k] = 'a'
		default:
			p[k] = c.tail[c.off-int64(len(c.head))-c.n]
		}
		k++
		c.off++
	}
	c.read.Add(int64(k))
	return k, nil
}

// TestHugeNameRefusedUnread: a push with a 60 MB name is refused after its first bytes, without
// the controller reading (or holding) the body, and nothing is stored.
func TestHugeNameRefusedUnread(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.fleet()
	const size = 60 << 20
	body := &countingReader{head: []byte(`{"source":"http://origin.test/x.iso","to":["all"],"name":"`), n: size, tail: []byte(`"}`)}
	req, err := http.NewRequestWithContext(ctxT(t), http.MethodPost, e.url+"/v1/distributions", body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	took := time.Since(start)
	runtime.ReadMemStats(&after)
	// The server may close the connection before the client has sent it all: the client then sees
	// the answer or a broken pipe, and either way far less than the body was read.
	if err == nil {
		var ae api.Error
		_ = json.NewDecoder(resp.Body).Decode(&ae)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(ae.Error, "name is longer than 255 bytes") {
			t.Fatalf("%d %q, want 400 naming the name and its limit", resp.StatusCode, ae.Error)
		}
	}
	if n := body.read.Load(); n > 8<<20 {
		t.Errorf("%d bytes of the %d byte body were sent: the controller read it", n, size)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 32<<20 {
		t.Errorf("%d bytes allocated while refusing: the name was buffered", grew)
	}
	t.Logf("sent %d of %d bytes, %d bytes allocated, %s", body.read.Load(), size, after.TotalAlloc-before.TotalAlloc, took)
	if took > 5*time.Second {
		t.Errorf("refusing took %s", took)
	}
	if ds, err := e.st.Distributions(ctxT(t)); err != nil || len(ds) != 0 {
		t.Fatalf("distributions after the refused push: %d (%v), want none", len(ds), err)
	}
}

// TestBodyLimits: a report bigger than 1 MiB and a metainfo bigger than its distribution's piece
// count allows are refused 413.
func TestBodyLimits(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.fleet()
	d := e.create("all")
	st, got := send(t, "POST", e.url+"/v1/report", hostToken, api.Report{Host: "c1", Tasks: make([]api.TaskReport, 20000)})
	if st != http.StatusRequestEntityTooLarge {
		t.Fatalf("2 MB report: %d %q, want 413", st, got.Error)
	}
	st, got = send(t, "PUT", e.url+"/v1/distributions/"+d.ID+"/metainfo", hostToken, make([]byte, 1<<20))
	if st != http.StatusRequestEntityTooLarge {
		t.Fatalf("1 MiB metainfo for a 1 MiB file: %d %q, want 413", st, got.Error)
	}
	// The real metainfo fits.
	if err := e.host.PutMetainfo(ctxT(t), d.ID, torrent(t, fileSize)); err != nil {
		t.Fatalf("put the metainfo: %v", err)
	}
}
