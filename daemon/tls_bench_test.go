package daemon_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"dist/core/api"
	"dist/daemon"
)

// BenchmarkControllerRequests measures a controller's API requests over TLS and over plain HTTP,
// in one run: requests per second and p99 latency of GET /v1/distributions with 16 callers, over
// kept connections (HTTP/2, as hosts do), with a new connection per request resuming its TLS
// session (as a host reconnecting does), and with a new connection and a full TLS handshake per
// request (the handshake's whole cost).
//
//	CGO_ENABLED=0 go test ./daemon -run '^$' -bench BenchmarkControllerRequests -benchtime 1x
func BenchmarkControllerRequests(b *testing.B) {
	for _, plain := range []bool{false, true} {
		for _, conn := range []connMode{connKept, connNew, connNewFull} {
			if plain && conn == connNewFull {
				continue // no handshake to make in full
			}
			name := fmt.Sprintf("tls=%v/conn=%s", !plain, conn)
			b.Run(name, func(b *testing.B) {
				var opts []func(*daemon.Config)
				if plain {
					opts = append(opts, func(c *daemon.Config) { c.InsecurePlainHTTP = true })
				}
				f := newFleetWith(b, opts...)
				for b.Loop() {
					rps, p99 := hammer(b, f.ctrl, conn, 16, 2*time.Second)
					b.ReportMetric(rps, "req/s")
					b.ReportMetric(float64(p99.Microseconds())/1000, "p99-ms")
				}
			})
		}
	}
}

// connMode is how a benchmark caller uses connections.
type connMode string

const (
	connKept    connMode = "kept"     // one kept connection per caller (HTTP/2 over TLS)
	connNew     connMode = "new"      // a new connection per request, TLS sessions resumed
	connNewFull connMode = "new-full" // a new connection per request, full TLS handshake each
)

// hammer sends GET /v1/distributions from callers goroutines for d and answers the rate and p99.
func hammer(b *testing.B, ctrl *daemon.Daemon, conn connMode, callers int, d time.Duration) (float64, time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var mu sync.Mutex
	var lat []time.Duration
	var wg sync.WaitGroup
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fresh := conn != connKept
			var tc *tls.Config
			if t := ctrl.ClientTLS(); t != nil {
				tc = t
				if conn != connNewFull {
					tc.ClientSessionCache = tls.NewLRUClientSessionCache(16) // as hosts resume theirs
				}
			}
			tr := &http.Transport{TLSClientConfig: tc, DisableKeepAlives: fresh}
			c := api.New(ctrl.HTTPURL(), adminToken)
			c.HTTP = &http.Client{Transport: api.NewTransport(tr)}
			if fresh {
				c.HTTP = &http.Client{Transport: tr} // HTTP/1.1, one connection per request
			}
			var mine []time.Duration
			for ctx.Err() == nil {
				t0 := time.Now()
				if _, err := c.Distributions(ctx); err != nil {
					if ctx.Err() == nil {
						b.Error(err)
					}
					break
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if len(lat) == 0 {
		return 0, 0
	}
	slices.Sort(lat)
	return float64(len(lat)) / d.Seconds(), lat[len(lat)*99/100]
}
