package daemon_test

import (
	"context"
	"crypto/sha1"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"dist/core/api"
	"dist/core/content"
	"dist/core/swarm"
	"dist/daemon"
)

// While the relay pulls, it gives each piece to one client and the clients exchange them: the
// relay's uplink carries the file about once, every client forwards pieces before the pull ends,
// and every copy is whole and right. That holds for a URL source (no metainfo until the relay has
// hashed it all) and for a source whose metainfo is known from the start, as a published file's.
func TestEarlyExchangeSendsEachByteOnce(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		metainfo bool
	}{
		{"url source", false},
		{"metainfo known", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			exchangeOnce(t, tc.metainfo)
		})
	}
}

func exchangeOnce(t *testing.T, withMetainfo bool) {
	const size = 24 << 20
	const clients = 6
	f := newFleet(t)
	org, sum := slowOrigin(t, f, size, 6<<20) // the relay pulls for about 4 s
	push := api.CreateDistribution{Source: org.URL(), To: []string{"all"}}
	if withMetainfo {
		push.Metainfo = metainfoOf(t, filepath.Join(f.dir, "src.img"), size)
	}
	uplink := func(c *daemon.Config) { c.BTUploadRate = 8 << 20 }
	f.start("relay-1", []api.Role{api.RoleRelay}, nil, uplink)
	names := startClients(f, clients, uplink)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	f.waitHosts(ctx, 2+clients)

	d, err := f.admin.CreateDistribution(ctx, push)
	if err != nil {
		t.Fatal(err)
	}
	// What each client had sent while the relay was still pulling: read the clients first, then
	// the relay, so a figure counts only if the pull was still running after it was read.
	upBefore := map[string]int64{}
	for pulling := true; pulling; {
		ups := map[string]int64{}
		for _, n := range names {
			ups[n] = report(ctx, t, f.daemons[n], d.ID).BytesUp
		}
		rel := report(ctx, t, f.daemons["relay-1"], d.ID)
		if pulling = rel.DoneMs == 0; pulling {
			upBefore = ups
		}
		select {
		case <-ctx.Done():
			t.Fatal("the relay's pull did not end")
		case <-time.After(20 * time.Millisecond):
		}
	}
	end := f.waitEnded(ctx, d.ID)
	if end.State != api.DistComplete {
		t.Fatalf("state = %s, want complete: %+v", end.State, end.Assignments)
	}
	verifyCopies(ctx, t, f, names, sum)
	for _, n := range names {
		if upBefore[n] == 0 {
			t.Errorf("%s uploaded nothing while the relay pulled", n)
		}
	}
	rel := report(ctx, t, f.daemons["relay-1"], d.ID)
	t.Logf("relay sent %.3f× the file; clients' uploads during the pull %v", float64(rel.BytesUp)/size, upBefore)
	if !withMetainfo {
		// The relay built the metainfo: its clients fetched it from the relay, not each from the
		// controller.
		fams := parseMetrics(t, f.ctrl.HTTPURL()+"/metrics")
		gets := observed(fams["dist_controller_http_request_duration_seconds"], "route", "GET /v1/metainfo/{sum}")
		t.Logf("metainfo fetched from the controller %d times by %d clients and the relay", gets, clients)
		if gets > 1 {
			t.Errorf("the controller sent the metainfo %d times, want at most once: clients fetch it from their relay", gets)
		}
	}
	if rel.BytesUp > size*5/4 {
		t.Errorf("relay sent %d bytes for a %d-byte file to %d clients (%.2f×), want ≤ 1.25×", rel.BytesUp, size, clients, float64(rel.BytesUp)/size)
	}
}

// A client stopped while it exchanges pieces before the metainfo exists resumes from the pieces
// it recorded: what it fetches again stays under a tenth of what it had.
func TestEarlyExchangeResumesAfterRestart(t *testing.T) {
	t.Parallel()
	const size = 24 << 20
	f := newFleet(t)
	org, sum := slowOrigin(t, f, size, 3<<20) // about 8 s of pull: the client stops long before it ends
	f.start("relay-1", []api.Role{api.RoleRelay}, nil)
	names := startClients(f, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	f.waitHosts(ctx, 3)
	d, err := f.admin.CreateDistribution(ctx, api.CreateDistribution{Source: org.URL(), To: []string{"all"}})
	if err != nil {
		t.Fatal(err)
	}
	taskOf(ctx, t, f.daemons[names[0]], d.ID, func(tr api.TaskReport) bool { return tr.Have >= size/4 })
	f.stop(names[0])
	if rel := report(ctx, t, f.daemons["relay-1"], d.ID); rel.DoneMs != 0 {
		t.Fatalf("the relay finished its pull before the client stopped: the test needs a slower origin")
	}
	had := recorded(t, filepath.Join(f.dir, names[0], "tasks", d.ID, "data.pieces"), size)
	d2 := f.start(names[0], []api.Role{api.RoleClient}, nil)
	if end := f.waitEnded(ctx, d.ID); end.State != api.DistComplete {
		t.Fatalf("state = %s, want complete: %+v", end.State, end.Assignments)
	}
	verifyCopies(ctx, t, f, names, sum)
	after := report(ctx, t, d2, d.ID) // the counters of the restarted run
	fetched := after.BytesHTTPRelay + after.BytesBT + after.BytesHTTPOrigin
	again := fetched - (size - had)
	t.Logf("recorded %d bytes before the restart; fetched %d after it, %d again", had, fetched, again)
	if had < size/4 {
		t.Fatalf("recorded %d bytes, want at least the quarter the client held before the stop", had)
	}
	if again > had/10 {
		t.Errorf("fetched %d bytes again of the %d it had recorded, want ≤ 10 %%", again, had)
	}
}

// metainfoOf answers the bencoded metainfo of the file at path, as a publisher would.
func metainfoOf(t *testing.T, path string, size int64) []byte {
	t.Helper()
	file, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	pieceLen := content.PieceLength(size)
	pieces, err := content.HashPieces(context.Background(), file, size, pieceLen, 2)
	if err != nil {
		t.Fatal(err)
	}
	mi, _, err := content.Build("src.img", size, pieceLen, pieces)
	if err != nil {
		t.Fatal(err)
	}
	return mi
}

// recorded answers the bytes a piece record holds complete.
func recorded(t *testing.T, path string, size int64) int64 {
	t.Helper()
	pieceLen := content.PieceLength(size)
	n := int((size + pieceLen - 1) / pieceLen)
	rec, err := swarm.OpenRecord(testLogger(t), path, n, [sha1.Size]byte{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Close()
	var b int64
	for i := range n {
		if rec.Complete(i) {
			b += min(pieceLen, size-int64(i)*pieceLen)
		}
	}
	return b
}

// report answers the daemon's current report of its task for dist.
func report(ctx context.Context, t *testing.T, d *daemon.Daemon, dist string) api.TaskReport {
	t.Helper()
	st, err := api.NewLocal(d.Config().Socket).Status(ctx)
	if err != nil {
		t.Fatalf("status of %s: %v", d.Config().Name, err)
	}
	for _, tr := range st.Tasks {
		if strings.HasPrefix(tr.ID, dist+"/") {
			return tr
		}
	}
	return api.TaskReport{}
}
