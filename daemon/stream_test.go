package daemon_test

import (
	"context"
	"testing"
	"time"

	"dist/core/api"
	"dist/daemon"
)

// Without a metainfo, clients stream from the relay over HTTP; when the relay publishes the
// metainfo they add the torrent over what they have and fetch only the rest, over BitTorrent.
func TestClientsSwitchFromHTTPToBitTorrent(t *testing.T) {
	t.Parallel()
	const size = 32 << 20
	const pieceLen = 256 << 10 // content.PieceLength for 32 MiB
	f := newFleet(t)
	org, sum := slowOrigin(t, f, size, 16<<20) // the relay pulls in about 2 s
	f.start("relay-1", []api.Role{api.RoleRelay}, nil)
	// Clients stream slower than the relay pulls, so the metainfo finds them part-way.
	clients := startClients(f, 2, func(c *daemon.Config) { c.Hybrid.MaxSpeed = 4 << 20 })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	f.waitHosts(ctx, 4)

	d, err := f.admin.CreateDistribution(ctx, api.CreateDistribution{Source: org.URL(), To: []string{"all"}})
	if err != nil {
		t.Fatal(err)
	}
	end := f.waitEnded(ctx, d.ID)
	if end.State != api.DistComplete {
		t.Fatalf("state = %s, want complete: %+v", end.State, end.Assignments)
	}
	verifyCopies(ctx, t, f, clients, sum)
	for _, name := range clients {
		tr := taskOf(ctx, t, f.daemons[name], d.ID, func(api.TaskReport) bool { return true })
		t.Logf("%s: http %d, bt %d, origin %d bytes", name, tr.BytesHTTPRelay, tr.BytesBT, tr.BytesHTTPOrigin)
		if tr.BytesHTTPRelay == 0 {
			t.Errorf("%s streamed nothing over HTTP before the metainfo", name)
		}
		if tr.BytesBT == 0 {
			t.Errorf("%s got nothing over BitTorrent after the metainfo", name)
		}
		// What was streamed is verified, not fetched again: all sources together carry the file
		// once, give or take the piece the stream was in the middle of.
		if got := tr.BytesHTTPRelay + tr.BytesBT + tr.BytesHTTPOrigin; got > size+pieceLen {
			t.Errorf("%s fetched %d bytes for a %d-byte file: streamed bytes were fetched again", name, got, size)
		}
	}
}
