package daemon_test

import (
	"bytes"
	"cmp"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"dist/core/api"
	"dist/core/content"
	"dist/daemon/demo/origin"
)

// The bytes a target did not fetch reach the controller's report: a 70 %-zero image counts its
// zero pieces as bytes_zero, a v2 over v1 at the same path counts the unchanged data pieces as
// bytes_kept, both equal to what the host itself counted. A push with --base keeps pieces from an
// older version at another path, fetches only the changed ones and never touches the base; a base
// outside the host's destination roots fails the copy at once, and a relative one is refused.
func TestBigImageReportCountsBytesSaved(t *testing.T) {
	t.Parallel()
	const size, pl = 16 << 20, 256 << 10 // 64 pieces
	const dataPieces, zeroPieces = 19, 45
	f := newFleet(t)
	f.start("publisher", []api.Role{api.RoleClient}, nil)
	client := f.start("client-1", []api.Role{api.RoleClient}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	f.waitHosts(ctx, 3)

	gen := filepath.Join(f.dir, "gen.bin")
	if _, err := origin.Generate(gen, size, 21); err != nil {
		t.Fatal(err)
	}
	v1, err := os.ReadFile(gen)
	if err != nil {
		t.Fatal(err)
	}
	clear(v1[10*pl : 55*pl]) // pieces 10–54 zero: 45 of 64, 70 %
	v2 := bytes.Clone(v1)
	v2[3*pl+9] ^= 1
	v2[60*pl+9] ^= 1
	v3 := bytes.Clone(v2)
	v3[5*pl+7] ^= 1
	v3[58*pl+7] ^= 1

	files := filepath.Join(client.Config().Data, "files")
	local := api.NewLocal(f.daemons["publisher"].Config().Socket)
	hostLocal := api.NewLocal(client.Config().Socket)
	publish := func(version string, data []byte) api.Published {
		t.Helper()
		path := filepath.Join(f.dir, version, "image.img")
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		p, err := local.Publish(ctx, api.Publish{Path: path, PieceLen: pl})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	// push sends one version to client-1 and answers the report once it carries the figures the
	// host counted itself (they reach the controller with the host's reports).
	push := func(version string, data []byte, dest, base string) api.DistReport {
		t.Helper()
		p := publish(version, data)
		d, err := f.admin.CreateDistribution(ctx, api.CreateDistribution{
			Source: p.Source, Metainfo: p.Metainfo, SHA256: p.SHA256, Publisher: p.Host,
			To: []string{"client-1"}, Dest: dest, Base: base,
		})
		if err != nil {
			t.Fatal(err)
		}
		if d = f.waitEnded(ctx, d.ID); d.State != api.DistComplete {
			t.Fatalf("%s: state %s: %+v", version, d.State, d.Assignments)
		}
		got, err := content.SHA256File(ctx, cmp.Or(dest, filepath.Join(files, "image.img")))
		if err != nil || got != p.SHA256 {
			t.Fatalf("%s: copy sha256 %s (%v), want %s", version, got, err, p.SHA256)
		}
		host := waitHostTask(ctx, t, hostLocal, api.AssignmentID(d.ID, "client-1", api.RoleClient))
		return f.waitReport(ctx, d.ID, func(r api.DistReport) bool {
			return r.Bytes.Zero == host.BytesZero && r.Bytes.Kept == host.BytesKept
		})
	}
	check := func(version string, r api.DistReport, zero, kept, moved int64) {
		t.Helper()
		t.Logf("%s: zero %d, kept %d, moved %d of %d bytes", version, r.Bytes.Zero, r.Bytes.Kept, r.Bytes.Total(), r.Size)
		if r.Bytes.Zero != zero || r.Bytes.Kept != kept {
			t.Errorf("%s: report zero %d, kept %d; want %d, %d", version, r.Bytes.Zero, r.Bytes.Kept, zero, kept)
		}
		if len(r.Hosts) != 1 || r.Hosts[0].Bytes.Zero != zero || r.Hosts[0].Bytes.Kept != kept {
			t.Errorf("%s: host figures %+v, want zero %d, kept %d", version, r.Hosts, zero, kept)
		}
		if got := r.Bytes.Total(); got < moved || got > moved+moved/2 {
			t.Errorf("%s: %d bytes moved, want about %d", version, got, moved)
		}
	}

	check("v1", push("v1", v1, "", ""), zeroPieces*pl, 0, dataPieces*pl)
	check("v2", push("v2", v2, "", ""), zeroPieces*pl, (dataPieces-2)*pl, 2*pl)

	// v3 beside v2, with v2 (the copy just made) as its base at another path.
	base := filepath.Join(files, "image.img")
	before, err := content.SHA256File(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	check("v3", push("v3", v3, filepath.Join(files, "v3.img"), base), zeroPieces*pl, (dataPieces-2)*pl, 2*pl)
	if after, err := content.SHA256File(ctx, base); err != nil || after != before {
		t.Errorf("base sha256 %s (%v) after the push, %s before: the base was touched", after, err, before)
	}

	// A base outside the host's roots fails the copy at once, naming the base.
	v4 := bytes.Clone(v3)
	v4[0] ^= 1
	p := publish("v4", v4)
	outside := filepath.Join(f.dir, "v1", "image.img")
	d, err := f.admin.CreateDistribution(ctx, api.CreateDistribution{
		Source: p.Source, Metainfo: p.Metainfo, SHA256: p.SHA256, Publisher: p.Host,
		To: []string{"client-1"}, Dest: filepath.Join(files, "v4.img"), Base: outside,
	})
	if err != nil {
		t.Fatal(err)
	}
	if d = f.waitEnded(ctx, d.ID); d.State != api.DistFailed {
		t.Fatalf("base outside the roots: state %s, want failed: %+v", d.State, d.Assignments)
	}
	for _, a := range d.Assignments {
		if a.Role == api.RoleClient {
			t.Logf("base outside the roots: %s", a.Error)
		}
		if a.Role == api.RoleClient && (!strings.Contains(a.Error, "base") || !strings.Contains(a.Error, "destination roots")) {
			t.Errorf("base outside the roots: error %q, want one naming the base and the roots", a.Error)
		}
	}
	if _, err := os.Stat(filepath.Join(files, "v4.img")); !os.IsNotExist(err) {
		t.Errorf("base outside the roots: the destination exists (%v)", err)
	}

	// A relative base is refused by the controller before any host hears of it.
	_, err = f.admin.CreateDistribution(ctx, api.CreateDistribution{
		Source: p.Source, Metainfo: p.Metainfo, SHA256: p.SHA256, Publisher: p.Host,
		To: []string{"client-1"}, Base: "files/image.img",
	})
	if err == nil || !strings.Contains(err.Error(), "absolute") {
		t.Errorf("relative base: %v, want a refusal asking for an absolute path", err)
	}
}

// waitHostTask polls the host's own report of task id until it counts bytes saved (bounded by ctx).
func waitHostTask(ctx context.Context, t *testing.T, local *api.Client, id string) api.TaskReport {
	t.Helper()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		st, err := local.Status(ctx)
		var host api.TaskReport
		for _, x := range st.Tasks {
			if x.ID == id {
				host = x
			}
		}
		if err == nil && host.BytesZero+host.BytesKept > 0 {
			return host
		}
		select {
		case <-ctx.Done():
			t.Fatalf("task %s: the host counted nothing saved: %+v, err %v", id, host, err)
		case <-tick.C:
		}
	}
}

// waitReport polls the distribution's report until ok holds (bounded by ctx).
func (f *fleet) waitReport(ctx context.Context, id string, ok func(api.DistReport) bool) api.DistReport {
	f.t.Helper()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		r, err := f.admin.DistributionReport(ctx, id)
		if err == nil && ok(r) {
			return r
		}
		select {
		case <-ctx.Done():
			f.t.Fatalf("report of %s: last %+v, err %v", id, r.Bytes, err)
		case <-tick.C:
		}
	}
}
