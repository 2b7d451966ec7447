package swarm

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkSwarm measures one seed feeding four leechers a 128 MiB file over loopback, all in
// this process. Bytes per op are what the leechers receive together (4 × 128 MiB), so MB/s is the
// swarm's aggregate delivery rate on this machine.
func BenchmarkSwarm(b *testing.B) {
	const size, leechers = 128 * mib, 4
	dir := b.TempDir()
	src := makeSource(b, dir, size, 99)
	quiet := Config{Logger: testLogger(b)}
	seedNode := newNode(b, quiet)
	add(b, seedNode, Spec{Meta: src.meta, DataPath: src.path, Complete: true})

	b.SetBytes(size * leechers)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		var nodes []*Node
		var ts []*Torrent
		addrs := []string{seedNode.Addr()}
		for j := range leechers {
			n, err := New(Config{ListenAddr: "127.0.0.1:0", Logger: quiet.Logger})
			if err != nil {
				b.Fatal(err)
			}
			nodes = append(nodes, n)
			addrs = append(addrs, n.Addr())
			ts = append(ts, add(b, n, Spec{Meta: src.meta, DataPath: filepath.Join(dir, fmt.Sprint(i), fmt.Sprint(j), "out.img")}))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		b.StartTimer()
		for _, t := range ts {
			t.AddPeers(addrs)
		}
		for _, t := range ts {
			waitDone(b, ctx, t)
		}
		b.StopTimer()
		cancel()
		for j, n := range nodes {
			ts[j].Drop(true)
			n.Close()
		}
		b.StartTimer()
	}
}
