//go:build unix

package early

import (
	"context"
	"crypto/sha1"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// BenchmarkExchange moves a 128 MiB file from a relay's source to four clients over loopback,
// all in this process, through the exchange; beside it, in the same run, the baseline: the same
// four clients each fetching the whole file from one plain HTTP server. Bytes per op are what the
// clients receive together; cpu-s/GiB is the process's CPU time (user and system, the loopback's
// kernel work included) per GiB delivered, and relay-up the bytes the source sent over the file.
func BenchmarkExchange(b *testing.B) {
	const size, pieceLen, clients = 128 << 20, 256 << 10, 4
	dir := b.TempDir()
	srcPath := filepath.Join(dir, "src")
	data := make([]byte, size)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	if err := os.WriteFile(srcPath, data, 0o644); err != nil {
		b.Fatal(err)
	}
	srcFile, err := os.Open(srcPath)
	if err != nil {
		b.Fatal(err)
	}
	defer srcFile.Close()
	read := func(_ context.Context, p []byte, off int64) (int, error) { return srcFile.ReadAt(p, off) }

	b.Run("exchange", func(b *testing.B) { benchExchange(b, dir, data, read, pieceLen, clients, clients-1) })
	// A wider swarm on a tracker's partial view: 48 clients, each knowing 12 of the others.
	b.Run("exchange-48-clients-12-peers", func(b *testing.B) { benchExchange(b, dir, data[:32<<20], read, pieceLen, 48, 12) })
	b.Run("http-fanout", func(b *testing.B) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.ServeContent(w, r, "src", time.Time{}, io.NewSectionReader(srcFile, 0, size))
		}))
		defer srv.Close()
		b.SetBytes(size * clients)
		var cpu float64
		for i := 0; i < b.N; i++ {
			cpu0 := processCPU()
			var wg sync.WaitGroup
			for k := range clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					f, err := os.Create(filepath.Join(dir, "h"+string(rune('a'+k))))
					if err != nil {
						b.Error(err)
						return
					}
					defer f.Close()
					resp, err := http.Get(srv.URL)
					if err != nil {
						b.Error(err)
						return
					}
					defer resp.Body.Close()
					if _, err := io.Copy(f, resp.Body); err != nil {
						b.Error(err)
					}
				}()
			}
			wg.Wait()
			cpu += processCPU() - cpu0
		}
		b.ReportMetric(cpu/(float64(b.N)*float64(size*clients)/(1<<30)), "cpu-s/GiB")
	})
}

func serveBench(b *testing.B, r *Registry) string {
	mux := http.NewServeMux()
	r.Routes(mux)
	s := httptest.NewServer(mux)
	b.Cleanup(s.Close)
	return s.URL
}

// processCPU answers the CPU seconds (user and system) this process has used.
func processCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

// benchExchange runs the exchange of data to clients, each seeing peers of the others (a
// tracker's partial view when fewer than clients-1).
func benchExchange(b *testing.B, dir string, data []byte, read Reader, pieceLen int64, clients, peers int) {
	size := int64(len(data))
	n := int(size / pieceLen)
	{
		b.SetBytes(size * int64(clients))
		var cpu, up float64
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			cfg := Config{}
			relayReg := NewRegistry(cfg)
			var relayUp atomic.Int64
			src := NewSource(size, pieceLen, read, &relayUp)
			for k := range n {
				h := sha1.Sum(data[int64(k)*pieceLen : int64(k+1)*pieceLen])
				src.Landed(k, h[:])
			}
			drop := relayReg.AddSource("d", src)
			relay := serveBench(b, relayReg)
			type member struct {
				reg *Registry
				url string
				f   *os.File
				m   *Member
			}
			ms := make([]member, clients)
			for k := range ms {
				f, err := os.Create(filepath.Join(dir, fmt.Sprintf("c%d", k)))
				if err != nil {
					b.Fatal(err)
				}
				reg := NewRegistry(cfg)
				m := NewMember(size, pieceLen, func(_ context.Context, p []byte, off int64) (int, error) { return f.ReadAt(p, off) }, nil)
				reg.AddMember("d", m)
				ms[k] = member{reg: reg, url: serveBench(b, reg), f: f, m: m}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			cpu0 := processCPU()
			b.StartTimer()
			var wg sync.WaitGroup
			for k, c := range ms {
				var others []string
				for j := 1; j <= peers; j++ { // the next peers clients, around the ring
					others = append(others, ms[(k+j)%clients].url)
				}
				fe := &Fetch{Reg: c.reg, ID: "d", Size: size, PieceLen: pieceLen, File: c.f, Member: c.m,
					Landed:  func(int, [sha1.Size]byte) {},
					Sources: func() (string, []string, <-chan struct{}) { return relay, others, nil },
					HTTP:    http.DefaultClient, Log: slog.New(slog.DiscardHandler)}
				wg.Add(1)
				go func() {
					defer wg.Done()
					if err := fe.Run(ctx); err != nil {
						b.Error(err)
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			cpu += processCPU() - cpu0
			up += float64(relayUp.Load()) / float64(size)
			cancel()
			drop()
			for _, c := range ms {
				c.f.Close()
			}
			b.StartTimer()
		}
		b.ReportMetric(cpu/(float64(b.N)*float64(size*int64(clients))/(1<<30)), "cpu-s/GiB")
		b.ReportMetric(up/float64(b.N), "relay-up")
	}
}
