package controller_test

import (
	"testing"
	"time"

	"dist/core/api"
	"dist/core/store"
	"dist/daemon/controller"
)

func TestReportFigures(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.fleet()
	d := e.create("all")
	id := func(h string, role api.Role) string { return api.AssignmentID(d.ID, h, role) }
	t0 := e.clock.Now()
	ms := func(d time.Duration) int64 { return t0.Add(d).UnixMilli() }
	// The relay pulled the file once from the origin.
	e.report("relay-a", api.TaskReport{ID: id("relay-a", api.RoleRelay), State: api.TaskSeeding, Have: fileSize, BytesHTTPOrigin: fileSize})
	e.clock.Advance(4 * time.Second)
	// c1 and c4 finish; c2 fails; c3 is half way.
	e.report("c1", api.TaskReport{ID: id("c1", api.RoleClient), State: api.TaskDone, Have: fileSize,
		BytesBT: fileSize * 3 / 4, BytesHTTPRelay: fileSize / 4, FirstByteMs: ms(time.Second), DoneMs: ms(3 * time.Second)})
	e.report("c4", api.TaskReport{ID: id("c4", api.RoleClient), State: api.TaskSeeding, Have: fileSize,
		BytesBT: fileSize / 2, BytesHTTPOrigin: fileSize / 2, FirstByteMs: ms(2 * time.Second), DoneMs: ms(4 * time.Second)})
	e.report("c2", api.TaskReport{ID: id("c2", api.RoleClient), State: api.TaskFailed, Error: "disk full"})
	e.report("c3", api.TaskReport{ID: id("c3", api.RoleClient), State: api.TaskDownloading, Have: fileSize / 4, BytesBT: fileSize / 4, FirstByteMs: ms(time.Second)})
	e.clock.Advance(4 * time.Second)
	e.report("c3", api.TaskReport{ID: id("c3", api.RoleClient), State: api.TaskDownloading, Have: fileSize / 2, BytesBT: fileSize / 2, FirstByteMs: ms(time.Second)})

	r, err := e.admin.DistributionReport(ctxT(t), d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if r.Targets != 4 || r.Done != 2 || r.Failed != 1 {
		t.Errorf("targets/done/failed = %d/%d/%d, want 4/2/1", r.Targets, r.Done, r.Failed)
	}
	if want := (api.BytesBySource{BT: fileSize*3/4 + fileSize/2 + fileSize/2, HTTPRelay: fileSize / 4, HTTPOrigin: fileSize / 2}); r.Bytes != want {
		t.Errorf("bytes = %+v, want %+v", r.Bytes, want)
	}
	if r.RelayOrigin != fileSize || r.OriginBytes != fileSize+fileSize/2 || r.OriginPerFile != 1.5 {
		t.Errorf("origin: relay %d, total %d, per file %.2f; want %d, %d, 1.5", r.RelayOrigin, r.OriginBytes, r.OriginPerFile, fileSize, fileSize*3/2)
	}
	if r.Completion.N != 2 || r.Completion.P50 != 3000 || r.Completion.Max != 4000 {
		t.Errorf("completion = %+v, want n 2, p50 3000, max 4000", r.Completion)
	}
	if r.TimeToFirstByte.N != 3 || r.TimeToFirstByte.P50 != 1000 || r.TimeToFirstByte.Max != 2000 {
		t.Errorf("first byte = %+v, want n 3, p50 1000, max 2000", r.TimeToFirstByte)
	}
	if r.Samples < 6 {
		t.Errorf("samples = %d, want one per report at least", r.Samples)
	}
	sites := map[string]api.SiteReport{}
	for _, s := range r.Sites {
		sites[s.Site] = s
	}
	if a, b := sites["a"], sites["b"]; a.Targets != 3 || a.Done != 1 || a.Failed != 1 || b.Targets != 1 || b.Done != 1 {
		t.Errorf("sites = %+v", r.Sites)
	}
	// c1 took 2 s for the file, c4 2 s: 512 KiB/s each in site... both 1 MiB in 2 s.
	if got := sites["b"].AvgSpeed; got != fileSize/2 {
		t.Errorf("site b speed = %d, want %d", got, fileSize/2)
	}
	var c3 api.HostReport
	for _, h := range r.Hosts {
		if h.Host == "c3" {
			c3 = h
		}
	}
	// c3 went from 1/4 to 1/2 of the file in 4 s, as its samples show.
	if want := int64(fileSize/4) / 4; c3.Speed != want {
		t.Errorf("c3 speed = %d, want %d from its samples", c3.Speed, want)
	}
	if len(r.Failures) != 1 || r.Failures[0].Host != "c2" || r.Failures[0].Reason != "disk full" {
		t.Errorf("failures = %+v, want c2: disk full", r.Failures)
	}
	var sum api.BytesBySource
	for _, s := range r.Sites {
		sum = api.BytesBySource{BT: sum.BT + s.Bytes.BT, HTTPRelay: sum.HTTPRelay + s.Bytes.HTTPRelay, HTTPOrigin: sum.HTTPOrigin + s.Bytes.HTTPOrigin}
	}
	if sum != r.Bytes {
		t.Errorf("site bytes add up to %+v, the total is %+v", sum, r.Bytes)
	}
	if _, err := e.admin.DistributionReport(ctxT(t), "nope"); err == nil {
		t.Error("report of an unknown distribution succeeded")
	}
}

func TestReportCountsModeSwitches(t *testing.T) {
	t.Parallel()
	r := controller.BuildReport(api.Distribution{}, nil, nil, []store.Event{{Kind: "mode", Host: "c1"}}, time.Time{})
	if r.AssistSwitches != 1 || r.Completion.N != 0 {
		t.Errorf("empty report: %+v", r)
	}
}
