package swarm

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/anacrolix/torrent/metainfo"
)

// BenchmarkSwarmCrypto is BenchmarkSwarm at ChunkSize for each connection policy, in one run:
// plain BitTorrent (no MSE: what a node did when dialling a peer that refused MSE), the members
// policy (MSE handshake, plaintext payload) and MSE with an RC4 payload (what confidentiality
// would cost). One seed feeds four leechers 128 MiB over loopback; cpu-s/GiB counts every node.
//
//	CGO_ENABLED=0 go test ./core/swarm -run '^$' -bench BenchmarkSwarmCrypto -benchtime 3x
func BenchmarkSwarmCrypto(b *testing.B) {
	for _, c := range []struct {
		name string
		c    btCrypto
	}{{"plain", cryptoNone}, {"mse-plaintext", cryptoMembers}, {"mse-rc4", cryptoRC4}} {
		b.Run(c.name, func(b *testing.B) { benchSwarmCrypto(b, c.c) })
	}
}

func benchSwarmCrypto(b *testing.B, c btCrypto) {
	benchFanOut(b, Config{Logger: testLogger(b), crypto: c})
}

// BenchmarkStrangerRefused measures what a stranger's connection costs a seeding node: each op
// dials, asks for a torrent the node does not have and is dropped; once with MSE against the
// members policy, once with a plain handshake against a plain node (the cost without MSE).
// cpu-µs/conn is the whole process: the node's side and the stranger's own, which for MSE costs
// the stranger about as much as the node (one key exchange each).
//
//	CGO_ENABLED=0 go test ./core/swarm -run '^$' -bench BenchmarkStrangerRefused -benchtime 2000x
func BenchmarkStrangerRefused(b *testing.B) {
	for _, c := range []struct {
		name string
		c    btCrypto
	}{{"plain", cryptoNone}, {"mse", cryptoMembers}} {
		b.Run(c.name, func(b *testing.B) { benchStrangerRefused(b, c.c) })
	}
}

func benchStrangerRefused(b *testing.B, crypto btCrypto) {
	dir := b.TempDir()
	src := makeSource(b, dir, 2*mib, 5)
	n := newNode(b, Config{crypto: crypto})
	add(b, n, Spec{Meta: src.meta, DataPath: src.path, Complete: true})
	var wrong metainfo.Hash
	wrong[0] = 1
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var d net.Dialer
	cpu0 := processCPU()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c, err := d.DialContext(ctx, "tcp", n.Addr())
		if err != nil {
			b.Fatal(err)
		}
		cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
		// A plain node answers the handshake, echoing the hash, before it drops the stranger.
		if _, err := rawHandshake(cctx, c, crypto != cryptoNone, wrong); err == nil && crypto != cryptoNone {
			b.Fatal("a wrong info hash got a handshake")
		}
		if _, err := io.Copy(io.Discard, c); err != nil && cctx.Err() != nil { // until the node hangs up
			b.Fatal(err)
		}
		ccancel()
		c.Close()
	}
	b.StopTimer()
	if cpu := processCPU() - cpu0; cpu >= 0 {
		b.ReportMetric(cpu/float64(b.N)*1e6, "cpu-µs/conn")
	}
}
