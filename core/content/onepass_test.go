package content

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Hash answers the same pieces as the sequential reference and the same SHA-256 as crypto/sha256
// over the whole data, for pieces smaller and larger than its read block, any worker count.
func TestHashMatchesReferences(t *testing.T) {
	t.Parallel()
	for _, pl := range []int64{64 * kib, 8 * mib} {
		for _, size := range []int64{0, 1, pl - 1, pl, pl + 1, 3*pl + 12345} {
			data := randomBytes(size, uint64(size)+uint64(pl))
			want := sequentialPieces(data, pl)
			wantSum := sha256.Sum256(data)
			for _, workers := range []int{0, 1, 3} {
				t.Run(fmt.Sprintf("pl=%d/size=%d/workers=%d", pl, size, workers), func(t *testing.T) {
					got, err := Hash(context.Background(), bytes.NewReader(data), size, pl, workers)
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(got.Pieces, want) {
						t.Fatal("pieces differ from the sequential reference")
					}
					if got.SHA256 != hex.EncodeToString(wantSum[:]) {
						t.Fatalf("sha256 %s, want %x", got.SHA256, wantSum)
					}
				})
			}
		}
	}
}

func TestHashErrors(t *testing.T) {
	t.Parallel()
	data := randomBytes(100, 1)
	if _, err := Hash(context.Background(), bytes.NewReader(data), 200, 64, 2); !errors.Is(err, errShortRead) {
		t.Fatalf("short source: err = %v, want %v", err, errShortRead)
	}
	if _, err := Hash(context.Background(), bytes.NewReader(data), 100, 0, 2); err == nil {
		t.Fatal("zero piece length accepted")
	}
	if _, err := Hash(context.Background(), bytes.NewReader(data), -1, 10, 2); err == nil {
		t.Fatal("negative size accepted")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Hash(ctx, bytes.NewReader(data), 100, 10, 2); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: err = %v", err)
	}
}

// BenchmarkHash hashes a file on disk (DIST_HASH_BENCH_MIB, default 1024 MiB, written first, so
// the page cache is warm) the way publish did before (the SHA-256 and the parallel piece hashes
// as two passes at once), the one-pass pipeline, each hash alone and coreutils' sha256sum, all in
// one run; every row reports GiB/s and the CPU time it took per GiB (not for sha256sum,
// a child process). -cpu 1,2 gives the figures for one core and for two.
//
//	CGO_ENABLED=0 go test ./core/content -bench 'BenchmarkHash$' -run XXX -benchtime 3x -cpu 1,2
func BenchmarkHash(b *testing.B) {
	sizeMiB := int64(1024)
	if s := os.Getenv("DIST_HASH_BENCH_MIB"); s != "" {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil || v <= 0 {
			b.Fatalf("DIST_HASH_BENCH_MIB=%q: want a positive number of MiB", s)
		}
		sizeMiB = v
	}
	size := sizeMiB * mib
	path := filepath.Join(b.TempDir(), "image.img")
	if err := os.WriteFile(path, randomBytes(size, 7), 0o644); err != nil {
		b.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	ctx := context.Background()
	run := func(name string, pl int64, fn func() error) {
		// The -N suffix of each row is its GOMAXPROCS (-cpu).
		b.Run(fmt.Sprintf("%s/piece=%dMiB", name, pl/mib), func(b *testing.B) {
			b.SetBytes(size)
			start, cpu := time.Now(), processCPU()
			for b.Loop() {
				if err := fn(); err != nil {
					b.Fatal(err)
				}
			}
			gibs := float64(size) * float64(b.N) / float64(gib)
			b.ReportMetric(gibs/time.Since(start).Seconds(), "GiB/s")
			if c := processCPU() - cpu; c >= 0 && !strings.HasPrefix(name, "coreutils") {
				b.ReportMetric(c/gibs, "cpu-s/GiB")
			}
		})
	}
	for _, pl := range []int64{4 * mib, 64 * mib} {
		run("old-two-passes", pl, func() error {
			errc := make(chan error, 1)
			go func() { _, err := SHA256(ctx, f, size); errc <- err }()
			_, err := HashPieces(ctx, f, size, pl, 0)
			return errors.Join(err, <-errc)
		})
		run("new-one-pass", pl, func() error { _, err := Hash(ctx, f, size, pl, 0); return err })
	}
	run("sha256-alone", 4*mib, func() error { _, err := SHA256(ctx, f, size); return err })
	if bin, err := exec.LookPath("sha256sum"); err == nil {
		run("coreutils-sha256sum", 4*mib, func() error { return exec.Command(bin, path).Run() })
	}
	run("sha1-pieces-alone", 4*mib, func() error { _, err := HashPieces(ctx, f, size, 4*mib, 0); return err })
}
