package swarm

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkSwarm measures one seed feeding four leechers a 128 MiB file over loopback, all in
// this process, at anacrolix's default chunk size and at ours. Bytes per op are what the leechers
// receive together (4 × 128 MiB), so MB/s is the swarm's aggregate delivery rate on this machine;
// cpu-s/GiB is the process's CPU time (user and system: every node and the loopback's kernel work)
// per GiB delivered.
func BenchmarkSwarm(b *testing.B) {
	for _, chunk := range []int{16 << 10, ChunkSize} {
		b.Run(fmt.Sprintf("chunk=%dKiB", chunk>>10), func(b *testing.B) { benchSwarm(b, chunk) })
	}
}

func benchSwarm(b *testing.B, chunk int) {
	benchFanOut(b, Config{Logger: testLogger(b), chunkSize: chunk})
}

// benchFanOut is one seed feeding four leechers 128 MiB over loopback, every node on cfg; it
// reports MB/s delivered and cpu-s/GiB.
func benchFanOut(b *testing.B, cfg Config) {
	const size, leechers = 128 * mib, 4
	dir := b.TempDir()
	src := makeSource(b, dir, size, 99)
	seedNode := newNode(b, cfg)
	add(b, seedNode, Spec{Meta: src.meta, DataPath: src.path, Complete: true})

	b.SetBytes(size * leechers)
	var cpu float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		var nodes []*Node
		var ts []*Torrent
		addrs := []string{seedNode.Addr()}
		for j := range leechers {
			lc := cfg
			lc.ListenAddr = "127.0.0.1:0"
			n, err := New(lc)
			if err != nil {
				b.Fatal(err)
			}
			nodes = append(nodes, n)
			addrs = append(addrs, n.Addr())
			ts = append(ts, add(b, n, Spec{Meta: src.meta, DataPath: filepath.Join(dir, fmt.Sprint(i), fmt.Sprint(j), "out.img")}))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		cpu0 := processCPU()
		b.StartTimer()
		for _, t := range ts {
			t.AddPeers(addrs)
		}
		for _, t := range ts {
			waitDone(b, ctx, t)
		}
		b.StopTimer()
		cpu += processCPU() - cpu0
		cancel()
		for j, n := range nodes {
			ts[j].Drop(true)
			n.Close()
		}
		b.StartTimer()
	}
	if cpu >= 0 {
		b.ReportMetric(cpu/(float64(b.N)*float64(size*leechers)/(1<<30)), "cpu-s/GiB")
	}
}
