//go:build unix

package controller_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"dist/core/api"
	"dist/core/store"
	"dist/daemon/controller"
)

// The hot-path benchmarks drive the controller's handler in process, without a network or HTTP/2
// framing, on a fleet of hotClients+hotRelays hosts with one running distribution to every client:
// what one report, peers ask or watch answer costs the controller itself. Besides ns/op they
// report cpu-ns/op, the process's CPU time per call (GC and background flushes included), which a
// busy machine disturbs far less than the wall time.
const (
	hotClients = 9700
	hotRelays  = 300
	// hotActive clients are downloading and hotDone of them are done, as in the middle of a push.
	hotActive = 600
	hotDone   = 200
)

// hotFleet is a controller with its fleet and one running distribution.
type hotFleet struct {
	clock *clock
	h     http.Handler
	dist  string
}

// sink is a ResponseWriter that keeps only the status and the body size: the benchmarks measure
// the controller, not a recorder's buffers.
type sink struct {
	hdr    http.Header
	status int
	n      int
}

func (w *sink) Header() http.Header { return w.hdr }
func (w *sink) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

func (w *sink) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.n += len(b)
	return len(b), nil
}

// SetWriteDeadline and SetReadDeadline take the deadlines the controller sets, as a server's
// writer does (http.ResponseController), so no "not supported" error is made per call.
func (w *sink) SetWriteDeadline(time.Time) error { return nil }
func (w *sink) SetReadDeadline(time.Time) error  { return nil }

func (w *sink) reset() {
	clear(w.hdr)
	w.status, w.n = 0, 0
}

// do serves one request and answers its status.
func (f *hotFleet) do(w *sink, method, target, token string, body []byte) int {
	var rd io.Reader = http.NoBody
	if body != nil {
		rd = bytes.NewReader(body)
	}
	r, err := http.NewRequestWithContext(context.Background(), method, target, rd)
	if err != nil {
		panic(err)
	}
	r.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	w.reset()
	f.h.ServeHTTP(w, r)
	return w.status
}

// cpuTime answers the CPU time the process has used, all threads: with the GC's and the
// background flushes' share, what a call costs the controller however busy the machine is.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports the CPU time per call since start as cpu-ns/op.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
}

func clientName(i int) string { return fmt.Sprintf("c%05d", i) }

// newHotFleet stores the fleet (as after a restart: the controller loads it once), pushes to every
// client and brings hotActive of them to downloading, hotDone of those to done.
func newHotFleet(b *testing.B) *hotFleet {
	b.Helper()
	sq, err := store.Open(filepath.Join(b.TempDir(), "controller.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { sq.Close() })
	c := &clock{t: time.UnixMilli(1_700_000_000_000).UTC()}
	ctx := context.Background()
	// Seen until well after any benchmark's clock: every host stays online however far it runs.
	seen := c.Now().Add(24 * time.Hour)
	for i := range hotClients + hotRelays {
		h := api.Host{Name: clientName(i), Roles: []api.Role{api.RoleClient}, LastSeen: seen,
			Labels: map[string]string{"site": fmt.Sprintf("s%d", i%4)}, BTAddr: fmt.Sprintf("10.%d.%d.%d:6881", i%4, i/250%250, i%250),
			HTTPURL: fmt.Sprintf("http://10.%d.%d.%d:7700", i%4, i/250%250, i%250)}
		if i >= hotClients {
			h.Name, h.Roles = fmt.Sprintf("r%03d", i-hotClients), []api.Role{api.RoleRelay}
		}
		if err := sq.UpsertHost(ctx, h); err != nil {
			b.Fatal(err)
		}
	}
	srv := controller.New(sq, controller.Options{AdminToken: adminToken, HostToken: hostToken, Now: c.Now,
		Probe: func(context.Context, string) (int64, error) { return fileSize, nil }})
	f := &hotFleet{clock: c, h: srv.Handler()}
	w := &sink{hdr: http.Header{}}
	body, _ := json.Marshal(api.CreateDistribution{Source: "http://origin.test/image.iso", To: []string{"all"}})
	r, _ := http.NewRequest(http.MethodPost, "/v1/distributions", bytes.NewReader(body))
	r.Header.Set("Authorization", "Bearer "+adminToken)
	rec := &bodySink{sink: sink{hdr: http.Header{}}}
	f.h.ServeHTTP(rec, r)
	var d api.Distribution
	if err := json.Unmarshal(rec.body.Bytes(), &d); err != nil || d.Targets != hotClients {
		b.Fatalf("create: status %d, %d targets, err %v", rec.status, d.Targets, err)
	}
	f.dist = d.ID
	for i := range hotActive {
		st := api.TaskDownloading
		if i < hotDone {
			st = api.TaskDone
		}
		if code := f.do(w, http.MethodPost, "/v1/report", hostToken, f.reportBody(i, st, 1)); code != http.StatusNoContent {
			b.Fatalf("report of %s: status %d", clientName(i), code)
		}
		c.Advance(time.Millisecond)
	}
	return f
}

func (f *hotFleet) reportBody(i int, st api.TaskState, have int64) []byte {
	name := clientName(i)
	var ts []api.TaskReport
	if st != "" {
		ts = []api.TaskReport{{ID: api.AssignmentID(f.dist, name, api.RoleClient), State: st, Have: have, BytesBT: have, Peers: 12}}
	}
	b, _ := json.Marshal(api.Report{Host: name, Tasks: ts})
	return b
}

// bodySink keeps the body too (setup only).
type bodySink struct {
	sink
	body bytes.Buffer
}

func (w *bodySink) Write(b []byte) (int, error) {
	w.body.Write(b)
	return w.sink.Write(b)
}

// BenchmarkHotReport: a progress report of one downloading task (no state change), and an empty
// heartbeat. The clock moves a millisecond a call, about the fleet's report rate, so progress is
// flushed to the store once per thousand reports, as it would be.
func BenchmarkHotReport(b *testing.B) {
	f := newHotFleet(b)
	b.Run("progress", func(b *testing.B) {
		w := &sink{hdr: http.Header{}}
		bodies := make([][]byte, hotActive-hotDone)
		for k := range bodies {
			bodies[k] = f.reportBody(hotDone+k, api.TaskDownloading, 2)
		}
		b.ReportAllocs()
		defer reportCPU(b, cpuTime())
		for i := 0; b.Loop(); i++ {
			f.clock.Advance(time.Millisecond)
			if code := f.do(w, http.MethodPost, "/v1/report", hostToken, bodies[i%len(bodies)]); code != http.StatusNoContent {
				b.Fatalf("report: status %d", code)
			}
		}
	})
	b.Run("heartbeat", func(b *testing.B) {
		w := &sink{hdr: http.Header{}}
		bodies := make([][]byte, hotClients)
		for i := range bodies {
			bodies[i] = f.reportBody(i, "", 0)
		}
		b.ReportAllocs()
		defer reportCPU(b, cpuTime())
		for i := 0; b.Loop(); i++ {
			f.clock.Advance(time.Millisecond)
			if code := f.do(w, http.MethodPost, "/v1/report", hostToken, bodies[i%len(bodies)]); code != http.StatusNoContent {
				b.Fatalf("heartbeat: status %d", code)
			}
		}
	})
}

// BenchmarkHotPeers: one client's peers ask, the askers taken in a scattered turn, each well
// within its request rate. "fresh" moves the clock past every freshness bound each ask (kept
// answers, relay pointing), as after a quiet second; "burst" asks 10 µs apart: kept answers and
// pointing are reused where they fit (few askers share a kind of answer: site, subnet, pointed
// relay and variant); "push" is burst with a task state change before each ask, as during a push
// (the change's own cost is left out).
func BenchmarkHotPeers(b *testing.B) {
	f := newHotFleet(b)
	targets := make([]string, hotClients)
	for i := range targets {
		targets[i] = "/v1/distributions/" + url.PathEscape(f.dist) + "/peers?host=" + clientName(i)
	}
	for _, c := range []struct {
		name   string
		step   time.Duration
		change bool // a state change before each ask, left out of the figures
	}{{"fresh", 2 * time.Second, false}, {"burst", 10 * time.Microsecond, false}, {"push", 10 * time.Microsecond, true}} {
		b.Run(c.name, func(b *testing.B) {
			w := &sink{hdr: http.Header{}}
			var changes [2][][]byte // done, then downloading again, of the downloading clients
			for k := range hotActive - hotDone {
				changes[0] = append(changes[0], f.reportBody(hotDone+k, api.TaskDone, fileSize))
				changes[1] = append(changes[1], f.reportBody(hotDone+k, api.TaskDownloading, 2))
			}
			var left time.Duration // CPU time of the state changes
			b.ReportAllocs()
			start := cpuTime()
			defer func() { reportCPU(b, start+left) }()
			for i := 0; b.Loop(); i++ {
				if c.change {
					// One client moves between done and downloading: the tracker index changes
					// between two asks, as it does all through a push.
					t0 := cpuTime()
					b.StopTimer()
					n := len(changes[0])
					if code := f.do(w, http.MethodPost, "/v1/report", hostToken, changes[i/n%2][i%n]); code != http.StatusNoContent {
						b.Fatalf("state change: status %d", code)
					}
					b.StartTimer()
					left += cpuTime() - t0
				}
				f.clock.Advance(c.step)
				if code := f.do(w, http.MethodGet, targets[(i*7919)%len(targets)], hostToken, nil); code != http.StatusOK || w.n < 100 {
					b.Fatalf("peers: status %d, %d bytes", code, w.n)
				}
			}
		})
	}
}

// BenchmarkHotWatchAnswer: a watch whose version is stale, answered at once with the host's task.
func BenchmarkHotWatchAnswer(b *testing.B) {
	f := newHotFleet(b)
	targets := make([]string, hotClients)
	for i := range targets {
		targets[i] = "/v1/watch?host=" + clientName(i) + "&version=" + strconv.Itoa(i)
	}
	w := &sink{hdr: http.Header{}}
	b.ReportAllocs()
	defer reportCPU(b, cpuTime())
	for i := 0; b.Loop(); i++ {
		f.clock.Advance(time.Millisecond)
		if code := f.do(w, http.MethodGet, targets[i%len(targets)], hostToken, nil); code != http.StatusOK || w.n < 100 {
			b.Fatalf("watch: status %d, %d bytes", code, w.n)
		}
	}
}

// TestPeersAnswerIsEncodingJSON: the peers answer, written without encoding/json, is byte for
// byte what encoding/json writes of it, with strings it must escape among the peers, and it
// carries every field.
func TestPeersAnswerIsEncodingJSON(t *testing.T) {
	t.Parallel()
	// The answer is written field by field (peers.go, appendPeers): a new field of api.Peer
	// must be written there too.
	if n := reflect.TypeFor[api.Peer]().NumField(); n != 5 {
		t.Fatalf("api.Peer has %d fields, appendPeers writes 5: teach it the new ones", n)
	}
	e := newEnv(t)
	e.fleet()
	for i, u := range []string{"http://c5:7700/x?a=1&b=2", "http://c6:7700/<é>\"q\"\\"} {
		odd := api.Host{Name: fmt.Sprintf("c%d", 5+i), Roles: []api.Role{api.RoleClient}, BTAddr: fmt.Sprintf("10.0.0.%d:6881", 9+i),
			HTTPURL: u, Labels: map[string]string{"site": "a"}}
		if err := e.host.Register(ctxT(t), odd); err != nil {
			t.Fatal(err)
		}
	}
	d := e.create("all")
	e.report("c1", api.TaskReport{ID: api.AssignmentID(d.ID, "c1", api.RoleClient), State: api.TaskDone, Have: fileSize})
	for _, asker := range []string{"c1", "c2", "c3", "c4", "c5", "c6", "c2"} {
		req, err := http.NewRequestWithContext(ctxT(t), http.MethodGet, e.url+"/v1/distributions/"+d.ID+"/peers?host="+asker, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+hostToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("peers of %s: status %d, err %v", asker, resp.StatusCode, err)
		}
		var ps api.Peers
		if err := json.Unmarshal(body, &ps); err != nil {
			t.Fatalf("peers of %s: %v in %q", asker, err, body)
		}
		var want bytes.Buffer
		_ = json.NewEncoder(&want).Encode(ps)
		if !bytes.Equal(body, want.Bytes()) {
			t.Errorf("peers of %s:\n got %q\nwant %q", asker, body, want.Bytes())
		}
		var relay, complete bool
		odd := 0
		for _, p := range ps.Peers {
			relay, complete = relay || p.Relay, complete || p.Complete
			if strings.ContainsAny(p.HTTPURL, "&<") {
				odd++
			}
			if p.Host == "" || p.BTAddr == "" {
				t.Errorf("peers of %s: %+v lacks a host or an address", asker, p)
			}
		}
		if !relay || (!complete && asker != "c1") || (odd < 2 && asker != "c5" && asker != "c6") {
			t.Errorf("peers of %s: %+v, want a relay, c1 complete and the urls of c5 and c6", asker, ps.Peers)
		}
	}
}
