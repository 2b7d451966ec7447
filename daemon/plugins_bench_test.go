package daemon_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"dist/core/api"
	"dist/daemon/demo/origin"
)

// BenchmarkPartitionVsFile distributes the same amount of data from one publisher to two clients
// twice: file to file (the baseline), and partition to partition through the partition plugin
// (loop devices where the machine allows it, else regular files behind the plugin). Each op is
// publish (hashing included) + push + every target complete; the figure is MiB/s of content.
//
//	go test ./daemon/ -run '^$' -bench PartitionVsFile -benchtime 3x
func BenchmarkPartitionVsFile(b *testing.B) {
	const size = 64 << 20
	pdir := buildPartitionPlugin(b)
	f := newFleet(b)
	clients := []string{"client-1", "client-2"}
	f.start("publisher", []api.Role{api.RoleClient}, nil, withPlugins(pdir))
	for _, c := range clients {
		f.start(c, []api.Role{api.RoleClient}, nil, withPlugins(pdir))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	f.waitHosts(ctx, 4)
	local := api.NewLocal(f.daemons["publisher"].Config().Socket)
	seed := uint64(100)

	run := func(b *testing.B, device bool) {
		loops := 0
		for b.Loop() {
			b.StopTimer()
			seed++
			src := filepath.Join(f.dir, fmt.Sprintf("bench-%d.img", seed))
			if _, err := origin.Generate(src, size, seed); err != nil {
				b.Fatal(err)
			}
			source, dest := src, ""
			if device {
				source = "partition://" + src
				if dev := loopDevice(b, src); dev != "" {
					source = "partition://" + dev
					loops++
				}
				dir := filepath.Join(f.dir, fmt.Sprintf("targets-%d", seed))
				if err := os.MkdirAll(dir, 0o755); err != nil {
					b.Fatal(err)
				}
				for _, c := range clients {
					img := filepath.Join(f.dir, fmt.Sprintf("%s-%d.img", c, seed))
					if err := os.WriteFile(img, make([]byte, size), 0o644); err != nil {
						b.Fatal(err)
					}
					target := img
					if dev := loopDevice(b, img); dev != "" {
						target = dev
					}
					if err := os.Symlink(target, filepath.Join(dir, c)); err != nil {
						b.Fatal(err)
					}
				}
				dest = "partition://" + dir + "/{host}"
			}
			b.StartTimer()
			p, err := local.Publish(ctx, api.Publish{Path: source})
			if err != nil {
				b.Fatal(err)
			}
			d, err := f.admin.CreateDistribution(ctx, api.CreateDistribution{
				Source: p.Source, Metainfo: p.Metainfo, SHA256: p.SHA256, Publisher: p.Host, To: clients, Dest: dest,
			})
			if err != nil {
				b.Fatal(err)
			}
			if d = f.waitEnded(ctx, d.ID); d.State != api.DistComplete {
				b.Fatalf("state %s: %+v", d.State, d.Assignments)
			}
		}
		b.ReportMetric(float64(size)*float64(b.N)/(1<<20)/b.Elapsed().Seconds(), "MiB/s")
		if device && loops == 0 {
			b.Log("no loop devices here: partitions were regular files behind the plugin")
		}
	}
	b.Run("file", func(b *testing.B) { run(b, false) })
	b.Run("partition", func(b *testing.B) { run(b, true) })
}
