package daemon_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"dist/core/api"
	"dist/core/content"
	"dist/daemon/demo/origin"
)

// A published image with zero regions: the relay pulls only its data pieces from the publisher
// (bytes_http_origin is exactly their size, bytes_zero the zero pieces', though two of its pull
// chunks mix data and zero pieces), its copy is bit-identical and sparse where the zeros are, and
// every client ends bit-identical.
func TestRelaySkipsZeroPieces(t *testing.T) {
	t.Parallel()
	const size, pl = 16 << 20, 256 << 10 // 64 pieces; a relay chunk of 1 MiB holds 4
	const zeroFrom, zeroTo = 10, 55      // pieces 10–54: chunks 2 and 13 are half data, half zeros
	const zeroBytes = (zeroTo - zeroFrom) * pl
	f := newFleet(t)
	f.start("publisher", []api.Role{api.RoleClient}, nil)
	f.start("relay-1", []api.Role{api.RoleRelay}, nil)
	clients := startClients(f, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	f.waitHosts(ctx, 5)

	path := filepath.Join(f.dir, "img", "src.img")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := origin.Generate(path, size, 23); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	clear(data[zeroFrom*pl : zeroTo*pl])
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := api.NewLocal(f.daemons["publisher"].Config().Socket).Publish(ctx, api.Publish{Path: path, PieceLen: pl})
	if err != nil {
		t.Fatal(err)
	}
	d, err := f.admin.CreateDistribution(ctx, api.CreateDistribution{
		Source: p.Source, Metainfo: p.Metainfo, SHA256: p.SHA256, Publisher: p.Host, To: clients,
	})
	if err != nil {
		t.Fatal(err)
	}
	if end := f.waitEnded(ctx, d.ID); end.State != api.DistComplete {
		t.Fatalf("state %s: %+v", end.State, end.Assignments)
	}
	verifyCopies(ctx, t, f, clients, p.SHA256)

	relay := taskOf(ctx, t, f.daemons["relay-1"], d.ID, func(tr api.TaskReport) bool { return tr.State == api.TaskSeeding })
	if relay.BytesHTTPOrigin != size-zeroBytes || relay.BytesHTTPRelay != 0 || relay.BytesZero != zeroBytes || relay.Have != size {
		t.Errorf("relay: %d bytes from the origin, %d from relays, %d zero, %d held; want %d, 0, %d, %d",
			relay.BytesHTTPOrigin, relay.BytesHTTPRelay, relay.BytesZero, relay.Have, size-zeroBytes, zeroBytes, size)
	}
	waitAssignment(ctx, t, f, d.ID, "relay-1", func(a api.Assignment) bool { return a.BytesZero == zeroBytes })

	relayFile := filepath.Join(f.dir, "relay-1", "relay", d.ID, "src.img")
	got, err := os.ReadFile(relayFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("the relay's copy differs from the image")
	}
	if runtime.GOOS == "linux" {
		var st syscall.Stat_t
		if err := syscall.Stat(relayFile, &st); err != nil {
			t.Fatal(err)
		}
		// Data pieces, with a little room for the filesystem's block rounding.
		if alloc, want := st.Blocks*512, int64(size-zeroBytes); alloc > want+want/8 {
			t.Errorf("relay file takes %d bytes of disk for %d data bytes: the zeros were written", alloc, want)
		}
	}
	if sum, err := content.SHA256File(ctx, relayFile); err != nil || sum != p.SHA256 {
		t.Errorf("relay copy sha256 %s (%v), want %s", sum, err, p.SHA256)
	}
}
