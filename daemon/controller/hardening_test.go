package controller_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"dist/core/api"
	"dist/core/store"
	"dist/daemon/controller"
)

// hardenedController serves a controller the way the daemon does (controller.HTTPServer over
// controller.LimitListener) on loopback and answers its base URL.
func hardenedController(t *testing.T) string {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "controller.db"))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	srv := controller.New(st, controller.Options{AdminToken: adminToken, HostToken: hostToken})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := controller.HTTPServer(srv.Handler())
	done := make(chan struct{})
	go func() { defer close(done); _ = hs.Serve(controller.LimitListener(ln)) }()
	t.Cleanup(func() { hs.Close(); <-done })
	return "http://" + ln.Addr().String()
}

// heapInUse is the live heap after a collection.
func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// TestSlowLorisAndOversizeBodies attacks a controller with connections that send their headers a
// byte at a time and with clients sending bodies far over the limits, for a bounded time: normal
// requests still answer within 1 s, oversize bodies get 413 with a message naming the limit, and
// the heap stays bounded.
func TestSlowLorisAndOversizeBodies(t *testing.T) {
	const (
		lorises   = 300
		oversized = 40
		attack    = 2 * time.Second
	)
	base := hardenedController(t)
	addr := strings.TrimPrefix(base, "http://")
	before := heapInUse()

	ctx, cancel := context.WithTimeout(context.Background(), attack)
	defer cancel()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	opened := 0
	for i := 0; i < lorises; i++ {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			t.Fatalf("slow-loris connection %d: %v", i, err)
		}
		mu.Lock()
		conns = append(conns, c)
		opened++
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			head := "POST /v1/report HTTP/1.1\r\nHost: controller\r\nX-Slow: " + strings.Repeat("a", 1000)
			tick := time.NewTicker(50 * time.Millisecond)
			defer tick.Stop()
			for i := 0; i < len(head); i++ {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
				if _, err := c.Write([]byte{head[i]}); err != nil {
					return
				}
			}
		}()
	}
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})

	// Oversize bodies beside them: announced (refused before reading) and streamed (refused at
	// the limit), on the report route (1 MiB) and on a small one (leases, 16 KiB).
	type refusal struct {
		announced bool
		status    int
		msg       string
	}
	refusals := make(chan refusal, oversized)
	hc := &http.Client{Timeout: 10 * time.Second}
	for i := 0; i < oversized; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			route, size := "/v1/report", int64(8<<20)
			if i%2 == 1 {
				route, size = "/v1/leases", 1<<20
			}
			// A JSON object whose first string never ends, cut at size.
			body := io.LimitReader(io.MultiReader(strings.NewReader(`{"host":"`), filler{}), size)
			req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, base+route, body)
			if err != nil {
				refusals <- refusal{msg: err.Error()}
				return
			}
			announced := i%4 < 2
			if announced {
				req.ContentLength = size // otherwise chunked
			}
			req.Header.Set("Authorization", "Bearer "+hostToken)
			resp, err := hc.Do(req)
			if err != nil {
				refusals <- refusal{announced: announced, msg: err.Error()}
				return
			}
			defer resp.Body.Close()
			var e api.Error
			_ = json.NewDecoder(resp.Body).Decode(&e)
			refusals <- refusal{announced, resp.StatusCode, e.Error}
		}()
	}

	// Normal requests while the attack goes on.
	var worst time.Duration
	var took []time.Duration
	var peak uint64
	for n := 0; n < 5; n++ {
		start := time.Now()
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, base+"/v1/hosts", nil)
		req.Header.Set("Authorization", "Bearer "+adminToken)
		resp, err := (&http.Client{Timeout: time.Second}).Do(req)
		d := time.Since(start).Round(time.Millisecond)
		took = append(took, d)
		if err != nil {
			t.Fatalf("a normal request during the attack: %v (after %v)", err, d)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("a normal request during the attack: status %d", resp.StatusCode)
		}
		worst = max(worst, d)
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		peak = max(peak, m.HeapInuse)
		select {
		case <-ctx.Done():
		case <-time.After(attack / 6):
		}
	}
	<-ctx.Done()
	wg.Wait()
	close(refusals)
	n413, cut := 0, 0
	for r := range refusals {
		switch {
		case r.status == http.StatusRequestEntityTooLarge && strings.Contains(r.msg, "bytes"):
			n413++
		case !r.announced && r.status == 0:
			cut++ // the server may close the connection while a streamed body is still being sent
		default:
			t.Errorf("oversize body (announced %v): status %d %q, want 413 naming the limit", r.announced, r.status, r.msg)
		}
	}
	t.Logf("%d slow-loris connections and %d oversize bodies (%d answered 413, %d cut) for %v: normal requests %v; heap in use %.1f MiB before, %.1f MiB peak (+%.1f MiB)",
		opened, oversized, n413, cut, attack, took, mib(before), mib(peak), mib(peak)-mib(before))
	if worst > time.Second {
		t.Errorf("a normal request took %v during the attack, want under 1 s", worst)
	}
	if grow := int64(peak) - int64(before); grow > 64<<20 {
		t.Errorf("heap grew by %.1f MiB during the attack, want under 64 MiB", float64(grow)/(1<<20))
	}
}

// TestOversizeReportMessage: an announced oversize report is refused 413 before it is read, with
// a message that names the route and its limit.
func TestOversizeReportMessage(t *testing.T) {
	base := hardenedController(t)
	c, err := net.DialTimeout("tcp", strings.TrimPrefix(base, "http://"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	// Headers only: the 413 must come without the body being sent.
	fmt.Fprintf(c, "POST /v1/report HTTP/1.1\r\nHost: controller\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", hostToken, 2<<20)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e api.Error
	_ = json.NewDecoder(resp.Body).Decode(&e)
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(e.Error, "POST /v1/report takes at most 1048576 bytes") {
		t.Fatalf("status %d %q, want 413 naming the route's limit", resp.StatusCode, e.Error)
	}
}

// filler reads as endless letters.
type filler struct{}

func (filler) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'a'
	}
	return len(p), nil
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }
