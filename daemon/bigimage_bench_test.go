package daemon_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"dist/core/content"
	"dist/core/swarm"
	"dist/daemon/demo/origin"
)

// BenchmarkEndCheck measures a target's end check of a complete copy whose pieces were verified
// before a restart (or longer ago than VerifyAfter), normal against trusted mode, in one run:
//
//   - normal reads the whole-file SHA-256 through the torrent, which hashes each such piece
//     again (SHA-1) before handing its bytes out;
//   - trusted reads the stored bytes once, in order, for the SHA-256 alone.
//
// The copy is DIST_BENCH_ENDCHECK_MIB MiB (default 1024) of data in the page cache, in 16 MiB
// pieces. The full fleet figures come from `go run ./fixtures/bigimage`.
func BenchmarkEndCheck(b *testing.B) {
	size := int64(1024) << 20
	if v, err := strconv.ParseInt(os.Getenv("DIST_BENCH_ENDCHECK_MIB"), 10, 64); err == nil && v > 0 {
		size = v << 20
	}
	const pl = 16 << 20
	dir := b.TempDir()
	path := filepath.Join(dir, "image.img")
	if _, err := origin.Generate(path, size, 41); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	sums, err := content.Hash(ctx, f, size, pl, 0)
	f.Close()
	if err != nil {
		b.Fatal(err)
	}
	m, err := content.New("image.img", size, pl, sums.Pieces, sums.SHA256)
	if err != nil {
		b.Fatal(err)
	}
	node, err := swarm.New(swarm.Config{ListenAddr: "127.0.0.1:0", Logger: testLogger(b)})
	if err != nil {
		b.Fatal(err)
	}
	defer node.Close()
	// open adds the copy as a restarted daemon does: every piece recorded complete, none hashed
	// by this process yet.
	open := func(b *testing.B) *swarm.Torrent {
		tor, err := node.Add(ctx, swarm.Spec{Meta: m, DataPath: path, CompletionPath: filepath.Join(dir, "image.pieces"), Complete: true})
		if err != nil {
			b.Fatal(err)
		}
		return tor
	}
	for _, mode := range []string{content.ModeNormal, content.ModeTrusted} {
		b.Run("mode="+mode, func(b *testing.B) {
			b.SetBytes(size)
			for b.Loop() {
				b.StopTimer()
				tor := open(b)
				b.StartTimer()
				var got string
				var err error
				if mode == content.ModeNormal {
					got, err = content.SHA256(ctx, tor, size)
				} else {
					got, _, err = content.ResumableSHA256(ctx, readerAtFunc(tor.StoredAt), size, m.InfoHash, filepath.Join(dir, "endcheck.json"), 0)
				}
				b.StopTimer()
				if err != nil || got != sums.SHA256 {
					b.Fatalf("sha256 %s (%v), want %s", got, err, sums.SHA256)
				}
				if err := tor.Drop(false); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(size)*float64(b.N)/b.Elapsed().Seconds()/(1<<30), "GiB/s")
		})
	}
}

type readerAtFunc func([]byte, int64) (int, error)

func (f readerAtFunc) ReadAt(b []byte, off int64) (int, error) { return f(b, off) }
