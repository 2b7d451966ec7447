package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// counted is a test controller that answers every request with status (and a watch body on
// 200), counting what it receives.
type counted struct {
	srv  *httptest.Server
	hits atomic.Int32
}

func newCounted(t *testing.T, status int) *counted {
	t.Helper()
	c := &counted{}
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.hits.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
		if status != http.StatusOK {
			w.WriteHeader(status)
			fmt.Fprintf(w, `{"error":"status %d","code":"x"}`, status)
			return
		}
		fmt.Fprint(w, `{"version":"v1"}`)
	}))
	t.Cleanup(c.srv.Close)
	return c
}

// deadURL is the address of a closed listener: dials are refused.
func deadURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := "http://" + ln.Addr().String()
	_ = ln.Close()
	return u
}

// multi is a client over bases with a plain HTTP/1.1 transport of its own.
func multi(t *testing.T, bases ...string) *Client {
	t.Helper()
	c := NewMulti(bases, "tok")
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	c.HTTP = &http.Client{Transport: tr, Timeout: 10 * time.Second}
	return c
}

func ctx(t *testing.T) context.Context {
	t.Helper()
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

// TestMultiFailover: a controller that is not there (refused, 502/503/504, an answer broken
// off) sends the call to the next address; an answer, 4xx included, is the answer.
func TestMultiFailover(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		first      func(t *testing.T) (url string, hits func() int32)
		wantErr    int   // status of the error answered; 0: the call succeeds through the second
		wantSecond int32 // requests the second address received
	}{
		{"closed port", func(t *testing.T) (string, func() int32) { return deadURL(t), nil }, 0, 1},
		{"503", statusFirst(http.StatusServiceUnavailable), 0, 1},
		{"502", statusFirst(http.StatusBadGateway), 0, 1},
		{"504", statusFirst(http.StatusGatewayTimeout), 0, 1},
		{"400 is an answer", statusFirst(http.StatusBadRequest), http.StatusBadRequest, 0},
		{"404 is an answer", statusFirst(http.StatusNotFound), http.StatusNotFound, 0},
		{"401 is an answer", statusFirst(http.StatusUnauthorized), http.StatusUnauthorized, 0},
		{"watch broken off", brokenFirst, 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			first, firstHits := tc.first(t)
			second := newCounted(t, http.StatusOK)
			c := multi(t, first, second.srv.URL)
			_, err := c.Watch(ctx(t), "h", "")
			var se *StatusError
			switch {
			case tc.wantErr == 0 && err != nil:
				t.Fatalf("watch: %v, want it answered by the second address", err)
			case tc.wantErr != 0 && (!errors.As(err, &se) || se.Status != tc.wantErr):
				t.Fatalf("watch: %v, want the first address's %d", err, tc.wantErr)
			}
			if got := second.hits.Load(); got != tc.wantSecond {
				t.Fatalf("second address got %d requests, want %d", got, tc.wantSecond)
			}
			if firstHits != nil && firstHits() != 1 {
				t.Fatalf("first address got %d requests, want 1", firstHits())
			}
		})
	}
}

func statusFirst(status int) func(t *testing.T) (string, func() int32) {
	return func(t *testing.T) (string, func() int32) {
		s := newCounted(t, status)
		return s.srv.URL, s.hits.Load
	}
}

// brokenFirst answers 200 and breaks the body off half-way, as a controller killed mid-answer.
func brokenFirst(t *testing.T) (string, func() int32) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Length", "100")
		fmt.Fprint(w, `{"version":`)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, hits.Load
}

// TestMultiWatchBrokenOff: a watch whose answer breaks off is asked again of the next address
// and answers what that one said, nothing of the broken half.
func TestMultiWatchBrokenOff(t *testing.T) {
	t.Parallel()
	first, _ := brokenFirst(t)
	second := newCounted(t, http.StatusOK)
	w, err := multi(t, first, second.srv.URL).Watch(ctx(t), "h", "")
	if err != nil || w.Version != "v1" {
		t.Fatalf("watch = %+v, %v; want version v1 from the second address", w, err)
	}
}

// TestMultiSticks: calls stay with the address that answers, even once the first is back.
func TestMultiSticks(t *testing.T) {
	t.Parallel()
	first := newCounted(t, http.StatusServiceUnavailable)
	second := newCounted(t, http.StatusOK)
	c := multi(t, first.srv.URL, second.srv.URL)
	var log strings.Builder
	var mu sync.Mutex
	c.Log = slog.New(slog.NewTextHandler(lockedWriter{&mu, &log}, nil))
	for range 5 {
		if _, err := c.Watch(ctx(t), "h", ""); err != nil {
			t.Fatal(err)
		}
	}
	if got := first.hits.Load(); got != 1 {
		t.Fatalf("first address asked %d times, want once", got)
	}
	if got := second.hits.Load(); got != 5 {
		t.Fatalf("second address asked %d times, want 5", got)
	}
	if got := c.Addrs(); got[0] != second.srv.URL {
		t.Fatalf("addresses %v: want the second in use", got)
	}
	// The first one answering now changes nothing: the second works.
	c.pool.mu.Lock()
	c.pool.rest[0] = rest{}
	c.pool.mu.Unlock()
	if _, err := c.Watch(ctx(t), "h", ""); err != nil || first.hits.Load() != 1 {
		t.Fatalf("watch %v, first asked %d times: want the call to stay on the second", err, first.hits.Load())
	}
	mu.Lock()
	defer mu.Unlock()
	// No line for the first call (nothing answered before it), none per retry.
	if n := strings.Count(log.String(), "controller changed"); n != 0 {
		t.Fatalf("%d lines of a change, want none before any address answered:\n%s", n, log.String())
	}
}

// TestMultiLogsMove: one line when the host carries on through another controller than the one
// that answered before, none for the calls after it.
func TestMultiLogsMove(t *testing.T) {
	t.Parallel()
	var fail atomic.Bool
	first := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if fail.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		fmt.Fprint(w, `{}`)
	}))
	t.Cleanup(first.Close)
	second := newCounted(t, http.StatusOK)
	c := multi(t, first.URL, second.srv.URL)
	var log strings.Builder
	var mu sync.Mutex
	c.Log = slog.New(slog.NewTextHandler(lockedWriter{&mu, &log}, nil))
	if _, err := c.Watch(ctx(t), "h", ""); err != nil {
		t.Fatal(err)
	}
	fail.Store(true)
	for range 3 {
		if _, err := c.Watch(ctx(t), "h", ""); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if n := strings.Count(log.String(), "controller changed"); n != 1 || !strings.Contains(log.String(), second.srv.URL) {
		t.Fatalf("want one line naming the second address, got:\n%s", log.String())
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// TestMultiNotResent: a request that is not safe twice is not sent to another controller once
// it may have reached one; it is when it never left.
func TestMultiNotResent(t *testing.T) {
	t.Parallel()
	// A controller that reads the request and dies before answering.
	var took atomic.Int32
	dies := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		took.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			_ = conn.Close()
		}
	}))
	t.Cleanup(dies.Close)
	for _, tc := range []struct {
		name       string
		first      string
		call       func(c *Client) error
		wantSecond int32
	}{
		{"lease after arrival", dies.URL, func(c *Client) error {
			_, err := c.AcquireLease(ctx(t), LeaseRequest{Origin: "https://o", Holder: "h"})
			return err
		}, 0},
		{"push after arrival", dies.URL, func(c *Client) error {
			_, err := c.CreateDistribution(ctx(t), CreateDistribution{Source: "https://o/f"})
			return err
		}, 0},
		{"renew after arrival", dies.URL, func(c *Client) error {
			_, err := c.RenewLease(ctx(t), "l1", LeaseRenew{Used: 5})
			return err
		}, 0},
		{"report after arrival", dies.URL, func(c *Client) error { return c.Report(ctx(t), Report{Host: "h"}) }, 1},
		{"lease never sent", deadURL(t), func(c *Client) error {
			_, err := c.AcquireLease(ctx(t), LeaseRequest{Origin: "https://o", Holder: "h"})
			return err
		}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			second := newCounted(t, http.StatusOK)
			c := multi(t, tc.first, second.srv.URL)
			err := tc.call(c)
			var ue *UnreachableError
			if tc.wantSecond == 0 && !errors.As(err, &ue) {
				t.Fatalf("call: %v, want the first address's failure handed back", err)
			}
			if got := second.hits.Load(); got != tc.wantSecond {
				t.Fatalf("second address got %d requests, want %d", got, tc.wantSecond)
			}
			if tc.wantSecond == 0 {
				// The next call goes to the next address all the same.
				if got := c.Addrs()[0]; got != second.srv.URL {
					t.Fatalf("in use %s, want the second address for the next call", got)
				}
			}
		})
	}
	t.Cleanup(func() { // after the subtests
		if took.Load() == 0 {
			t.Error("the dying controller received nothing: the test proves nothing")
		}
	})
}

// fakePool is a pool of n addresses on a clock the test moves, whose jitter is the largest.
func fakePool(n int) (*pool, *time.Time) {
	bases := make([]string, n)
	for i := range bases {
		bases[i] = fmt.Sprintf("http://c%d", i)
	}
	p := newPool(bases)
	now := time.Unix(1000, 0)
	p.now = func() time.Time { return now }
	p.randN = func(n int64) int64 { return n - 1 }
	return p, &now
}

// TestMultiBackoff: an address that keeps failing rests a doubling while, up to the bound, and
// its rest ends with an answer.
func TestMultiBackoff(t *testing.T) {
	t.Parallel()
	p, now := fakePool(2)
	want := []time.Duration{250, 500, 1000, 2000, 4000, 8000, 10000, 10000, 10000}
	fail := errors.New("x")
	for n, w := range want {
		p.failed(0, fail)
		got := p.rest[0].until.Sub(*now)
		// Jitter at its largest: the whole back-off.
		if w := w * time.Millisecond; got != w {
			t.Fatalf("after %d failures the address rests %v, want %v", n+1, got, w)
		}
		if i, wait := p.pick(); i != 1 || wait != 0 {
			t.Fatalf("pick = %d, %v while the first rests: want the second at once", i, wait)
		}
	}
	p.randN = func(int64) int64 { return 0 }
	p.failed(0, fail)
	if got := p.rest[0].until.Sub(*now); got != FailoverMaxBackoff/2 {
		t.Fatalf("jitter at its least: rests %v, want half the bound", got)
	}
	p.answered(0, nil)
	if p.rest[0].fails != 0 || !p.rest[0].until.IsZero() {
		t.Fatalf("rest after an answer: %+v, want none", p.rest[0])
	}
	p.failed(0, fail)
	if got := p.rest[0].until.Sub(*now); got != FailoverMinBackoff/2 {
		t.Fatalf("first failure after an answer rests %v, want the back-off started over", got)
	}
}

// TestMultiAllResting: when every address rests, a call goes to the first one back, and one that
// cannot wait that long answers the last failure at once.
func TestMultiAllResting(t *testing.T) {
	t.Parallel()
	p, now := fakePool(3)
	fail := errors.New("boom")
	p.randN = func(n int64) int64 { return 0 }
	p.failed(0, fail)
	p.failed(0, fail) // 250 ms
	p.failed(1, fail) // 125 ms: back first
	p.failed(2, fail)
	p.failed(2, fail)
	if i, wait := p.pick(); i != 1 || wait != FailoverMinBackoff/2 {
		t.Fatalf("pick = %d, %v; want the address back first and its rest", i, wait)
	}
	*now = now.Add(time.Second)
	if i, wait := p.pick(); i != 1 || wait != 0 {
		t.Fatalf("pick = %d, %v once all are back; want the current one", i, wait)
	}
	p.failed(1, fail)
	p.failed(1, fail)
	p.failed(1, fail)
	p.failed(0, fail)
	p.failed(2, fail)
	c, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	sent := 0
	err := p.do(c, nil, http.MethodGet, "/v1/watch", func(string) error { sent++; return nil })
	if !errors.Is(err, fail) || sent != 0 {
		t.Fatalf("do = %v after %d sends; want the last failure at once, nothing sent", err, sent)
	}
}

// TestMultiOneAddress: a client of one address is the plain client of before.
func TestMultiOneAddress(t *testing.T) {
	t.Parallel()
	c := NewMulti([]string{" http://a:1/ ", ""}, "t")
	if c.pool != nil || c.Base != "http://a:1" {
		t.Fatalf("client %+v: want a plain client of http://a:1", c)
	}
	if got := SplitURLs("https://a, https://b", "", "https://c"); strings.Join(got, " ") != "https://a https://b https://c" {
		t.Fatalf("SplitURLs = %q", got)
	}
}

// TestAbsent: which failures say the controller is not there, and which may have reached it.
func TestAbsent(t *testing.T) {
	t.Parallel()
	dial := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
	reset := &net.OpError{Op: "read", Net: "tcp", Err: errors.New("connection reset by peer")}
	for _, tc := range []struct {
		name       string
		err        error
		gone, sent bool
	}{
		{"refused", &UnreachableError{URL: "u", Err: fmt.Errorf("post: %w", dial)}, true, false},
		{"no such host", &UnreachableError{URL: "u", Err: &net.DNSError{Err: "no such host", Name: "c"}}, true, false},
		{"reset", &UnreachableError{URL: "u", Err: reset}, true, true},
		{"503", &StatusError{Status: 503}, true, true},
		{"429", &StatusError{Status: 429}, false, true},
		{"400", &StatusError{Status: 400}, false, true},
		{"untrusted", &UntrustedError{URL: "u", Err: errors.New("x509")}, false, false},
		{"cancelled", context.Canceled, false, false},
	} {
		if gone, sent := absent(tc.err); gone != tc.gone || (gone && sent != tc.sent) {
			t.Errorf("%s: absent = %v, %v; want %v, %v", tc.name, gone, sent, tc.gone, tc.sent)
		}
	}
}

// TestResendable: the routes the controller treats idempotently, and only those.
func TestResendable(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		method, path string
		want         bool
	}{
		{"GET", "/v1/watch?host=h", true},
		{"POST", "/v1/report", true},
		{"POST", "/v1/hosts", true},
		{"POST", "/v1/goodbye?host=h", true},
		{"POST", "/v1/distributions/d1/cancel", true},
		{"PUT", "/v1/distributions/d1/metainfo", true},
		{"PUT", "/v1/origins", true},
		{"DELETE", "/v1/leases/l1?used=5", true},
		{"POST", "/v1/distributions", false},
		{"POST", "/v1/leases", false},
		{"POST", "/v1/leases/l1/renew", false},
		{"POST", "/v1/join", false},
		{"POST", "/v1/tokens", false},
		{"DELETE", "/v1/tokens/x", false},
	} {
		if got := resendable(tc.method, tc.path); got != tc.want {
			t.Errorf("resendable(%s %s) = %v, want %v", tc.method, tc.path, got, tc.want)
		}
	}
}
