package fetch_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"dist/core/fetch"
	"dist/daemon/demo/origin"
)

// faultOrigin serves a generated file of size bytes (seed 1) and returns it with its bytes and a
// client that closes its connections at the end.
func faultOrigin(t *testing.T, size int64, opts origin.Options) (*origin.Origin, []byte, *http.Client) {
	t.Helper()
	opts.File = genFile(t, size, 1)
	o, err := origin.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close() })
	data, err := os.ReadFile(opts.File)
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return o, data, &http.Client{Transport: tr}
}

func genFile(t *testing.T, size int64, seed uint64) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "v.bin")
	if _, err := origin.Generate(p, size, seed); err != nil {
		t.Fatal(err)
	}
	return p
}

func failOnBackoff(t *testing.T) func(int) time.Duration {
	return func(int) time.Duration { t.Error("backed off after a final answer"); return 0 }
}

// TestPullFinalAnswerFailsAtOnce: a 404, 410 or 403 ends the pull at its first request (no
// retry storm), with the origin's answer in the error and a sentinel to recognise it.
func TestPullFinalAnswerFailsAtOnce(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		status int
		kind   error
		text   string
	}{
		{http.StatusNotFound, fetch.ErrSourceGone, "404 Not Found"},
		{http.StatusGone, fetch.ErrSourceGone, "410 Gone"},
		{http.StatusForbidden, fetch.ErrSourceRefused, "403 Forbidden"},
	} {
		t.Run(tc.text, func(t *testing.T) {
			t.Parallel()
			const size = 64 << 10
			o, _, c := faultOrigin(t, size, origin.Options{})
			o.Fail(origin.Fault{Status: tc.status})
			p := &fetch.Pull{URL: o.URL(), Client: c, Size: size, Chunk: 8 << 10, Workers: 1,
				Dst: discardAt{}, Backoff: failOnBackoff(t)}
			err := p.Run(t.Context())
			if !errors.Is(err, tc.kind) || !fetch.Final(err) {
				t.Fatalf("Run error = %v, want one matching %v", err, tc.kind)
			}
			if msg := err.Error(); !strings.Contains(msg, tc.text) || !strings.Contains(msg, "told to") {
				t.Errorf("error %q does not carry the origin's answer (%s and its text)", msg, tc.text)
			}
			if got := o.StatusCounts()[tc.status]; got != 1 || o.Stats().Requests != 1 {
				t.Errorf("origin answered %d requests (%d with %d), want exactly 1", o.Stats().Requests, got, tc.status)
			}
		})
	}
}

// TestPullHonoursRetryAfter: a 503 with Retry-After: 1 is waited for, measured at the origin,
// even though the back-off itself is zero.
func TestPullHonoursRetryAfter(t *testing.T) {
	t.Parallel()
	const size = 16 << 10
	o, data, c := faultOrigin(t, size, origin.Options{})
	o.Fail(origin.Fault{Status: http.StatusServiceUnavailable, RetryAfter: "1", Count: 1})
	dst := &memAt{buf: make([]byte, size)}
	p := &fetch.Pull{URL: o.URL(), Client: c, Size: size, Chunk: size, Workers: 1, Dst: dst,
		Backoff: func(int) time.Duration { return 0 }}
	if err := p.Run(t.Context()); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if !bytes.Equal(dst.buf, data) {
		t.Fatal("pulled bytes differ from the origin's")
	}
	log := o.Log()
	if len(log) != 2 || log[0].Status != 503 || log[1].Status != 206 {
		t.Fatalf("origin log %+v, want a 503 and then a 206", log)
	}
	gap := log[1].At - log[0].At
	t.Logf("second request %s after the 503 with Retry-After: 1", gap)
	if gap < time.Second || gap > 5*time.Second {
		t.Errorf("retried %s after a Retry-After of 1 s", gap)
	}
}

// TestPullRetriesAreBounded: an origin that always answers 503 gets exactly Retries+1 requests;
// one that asks to wait longer than RetryFor gets one, and the pull ends without waiting.
func TestPullRetriesAreBounded(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name         string
		fault        origin.Fault
		retryFor     time.Duration
		wantRequests int64
	}{
		{"count", origin.Fault{Status: 503}, 0, 3},
		{"429 count", origin.Fault{Status: 429}, 0, 3},
		{"time", origin.Fault{Status: 503, RetryAfter: "120"}, time.Second, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			const size = 4 << 10
			o, _, c := faultOrigin(t, size, origin.Options{})
			o.Fail(tc.fault)
			p := &fetch.Pull{URL: o.URL(), Client: c, Size: size, Chunk: size, Workers: 1, Dst: discardAt{},
				Retries: 2, RetryFor: tc.retryFor, Backoff: func(int) time.Duration { return time.Millisecond }}
			start := time.Now()
			err := p.Run(t.Context())
			if !errors.Is(err, fetch.ErrSourceUnavailable) || fetch.Final(err) {
				t.Fatalf("Run error = %v, want one matching ErrSourceUnavailable and not final", err)
			}
			if n := o.Stats().Requests; n != tc.wantRequests {
				t.Errorf("origin got %d requests, want %d", n, tc.wantRequests)
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("gave up after %s", d)
			}
		})
	}
}

// TestPullOriginChangesMidPull: the origin serves a new version of the same size (new ETag and
// Last-Modified) after the third request. The pull fails with "origin file changed during the
// pull", and not one byte of the new version reaches the destination, whichever validators the
// origin sends.
func TestPullOriginChangesMidPull(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		opts       origin.Options
		probe      bool // pin by ProbeValidator instead of by the pull's first answer
		workers    int
		wantStatus int // what the origin answered the first request of the new version
	}{
		{"strong ETag", origin.Options{}, false, 1, http.StatusPreconditionFailed},
		{"strong ETag probed 4 workers", origin.Options{}, true, 4, http.StatusPreconditionFailed},
		{"weak ETag", origin.Options{WeakETag: true}, false, 1, http.StatusOK},
		{"Last-Modified only", origin.Options{NoETag: true}, true, 4, http.StatusOK},
		{"weak ETag only", origin.Options{WeakETag: true, NoLastModified: true}, false, 1, http.StatusPartialContent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			const size, chunk = 256 << 10, 16 << 10
			o, v1, c := faultOrigin(t, size, tc.opts)
			next := genFile(t, size, 2)
			v2, err := os.ReadFile(next)
			if err != nil {
				t.Fatal(err)
			}
			var pinned fetch.Validator
			if tc.probe {
				n, v, err := fetch.ProbeValidator(t.Context(), c, o.URL())
				if err != nil || n != size || v.IsZero() {
					t.Fatalf("ProbeValidator = %d, %+v, %v", n, v, err)
				}
				pinned = v
			}
			if err := o.ReplaceAfter(3, next); err != nil {
				t.Fatal(err)
			}
			dst := &memAt{buf: make([]byte, size)}
			p := &fetch.Pull{URL: o.URL(), Client: c, Size: size, Chunk: chunk, Workers: tc.workers, Dst: dst,
				Validator: pinned, Backoff: failOnBackoff(t)}
			err = p.Run(t.Context())
			if !errors.Is(err, fetch.ErrSourceChanged) || !strings.Contains(err.Error(), "origin file changed during the pull") {
				t.Fatalf("Run error = %v, want ErrSourceChanged saying the origin file changed during the pull", err)
			}
			if o.StatusCounts()[tc.wantStatus] == 0 {
				t.Errorf("origin answered %v, want a %d to the changed file", o.StatusCounts(), tc.wantStatus)
			}
			if p.Pinned().IsZero() {
				t.Error("Pinned() is zero after answers with validators")
			}
			zero := make([]byte, chunk)
			written := 0
			for off := 0; off < size; off += chunk {
				got := dst.buf[off : off+chunk]
				switch {
				case bytes.Equal(got, zero):
				case bytes.Equal(got, v1[off:off+chunk]):
					written++
				case bytes.Equal(got, v2[off:off+chunk]):
					t.Errorf("chunk at %d is from the new version", off)
				default:
					t.Errorf("chunk at %d matches neither version", off)
				}
			}
			if written == 0 {
				t.Error("not even the chunks served before the change were written")
			}
		})
	}
}

// TestPullNoValidatorChecksOnlySize documents the limit: an origin without ETag and Last-Modified
// can change its bytes unnoticed; a change of size is still caught.
func TestPullNoValidatorChecksOnlySize(t *testing.T) {
	t.Parallel()
	const size, chunk = 64 << 10, 16 << 10
	o, _, c := faultOrigin(t, size, origin.Options{NoETag: true, NoLastModified: true})
	n, v, err := fetch.ProbeValidator(t.Context(), c, o.URL())
	if err != nil || n != size || !v.IsZero() {
		t.Fatalf("ProbeValidator = %d, %+v, %v; want the size and no validator", n, v, err)
	}
	if err := o.Replace(genFile(t, size, 2)); err != nil {
		t.Fatal(err)
	}
	p := &fetch.Pull{URL: o.URL(), Client: c, Size: size, Chunk: chunk, Workers: 1, Dst: discardAt{}, Validator: v}
	if err := p.Run(t.Context()); err != nil {
		t.Errorf("Run over a same-size change without validators = %v; want it unnoticed (documented)", err)
	}
}

// TestPullSizeChangeIsFinal: the file grows or shrinks at the origin: the pull ends at its first
// request with "origin file changed size: was X, now Y".
func TestPullSizeChangeIsFinal(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		newSize int64
		opts    origin.Options
	}{
		{"grows", 64<<10 + 1, origin.Options{NoETag: true, NoLastModified: true}},
		{"shrinks", 16 << 10, origin.Options{NoETag: true, NoLastModified: true}},
		{"grows with validators", 64<<10 + 1, origin.Options{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			const size = 64 << 10
			o, _, c := faultOrigin(t, size, tc.opts)
			if err := o.Replace(genFile(t, tc.newSize, 2)); err != nil {
				t.Fatal(err)
			}
			p := &fetch.Pull{URL: o.URL(), Client: c, Size: size, Chunk: 32 << 10, Workers: 1, Dst: discardAt{},
				Next: func() func() (int, bool) { // the last chunk first: past the end of the shrunk file
					order := []int{1, 0}
					return func() (int, bool) {
						if len(order) == 0 {
							return 0, false
						}
						c := order[0]
						order = order[1:]
						return c, true
					}
				}(),
				Backoff: failOnBackoff(t)}
			err := p.Run(t.Context())
			want := "origin file changed size: was 65536, now " + strconv.FormatInt(tc.newSize, 10)
			if !errors.Is(err, fetch.ErrSourceChanged) || !strings.Contains(err.Error(), want) {
				t.Fatalf("Run error = %v, want ErrSourceChanged with %q", err, want)
			}
			if n := o.Stats().Requests; n != 1 {
				t.Errorf("origin got %d requests, want 1", n)
			}
		})
	}
}

// TestGetRangeIfHoldsToVersion: GetRangeIf returns the version it saw; a later range with it is
// refused once the origin changed, and writes nothing.
func TestGetRangeIfHoldsToVersion(t *testing.T) {
	t.Parallel()
	const size = 32 << 10
	o, data, c := faultOrigin(t, size, origin.Options{})
	var buf bytes.Buffer
	n, v, err := fetch.GetRangeIf(t.Context(), c, o.URL(), 0, 1000, &buf, fetch.Validator{})
	if err != nil || n != 1000 || !bytes.Equal(buf.Bytes(), data[:1000]) || !v.Strong() {
		t.Fatalf("GetRangeIf = %d, %+v, %v", n, v, err)
	}
	if err := o.Replace(genFile(t, size, 2)); err != nil {
		t.Fatal(err)
	}
	buf.Reset()
	n, _, err = fetch.GetRangeIf(t.Context(), c, o.URL(), 1000, 1000, &buf, v)
	if !errors.Is(err, fetch.ErrSourceChanged) || n != 0 || buf.Len() != 0 {
		t.Fatalf("GetRangeIf after a change = %d bytes, %v; want nothing and ErrSourceChanged", n, err)
	}
	if log := o.Log(); log[len(log)-1].IfMatch != v.ETag {
		t.Errorf("last request carried If-Match %q, want %q", log[len(log)-1].IfMatch, v.ETag)
	}
}

type discardAt struct{}

func (discardAt) WriteAt(p []byte, _ int64) (int, error) { return len(p), nil }

type memAt struct{ buf []byte }

func (m *memAt) WriteAt(p []byte, off int64) (int, error) { return copy(m.buf[off:], p), nil }

// TestPullStalledOriginIsRetried: the origin sends part of a body and hangs; the request is
// dropped after Pull.Stall and the chunk fetched again, whole and right.
func TestPullStalledOriginIsRetried(t *testing.T) {
	t.Parallel()
	const size = 64 << 10
	o, data, c := faultOrigin(t, size, origin.Options{})
	o.Stall(1000, 1)
	dst := &memAt{buf: make([]byte, size)}
	p := &fetch.Pull{URL: o.URL(), Client: c, Size: size, Chunk: size, Workers: 1, Dst: dst,
		Stall: 200 * time.Millisecond, Backoff: func(int) time.Duration { return 0 }}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := p.Run(ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if !bytes.Equal(dst.buf, data) {
		t.Fatal("pulled bytes differ from the origin's")
	}
	log := o.Log()
	if len(log) != 2 || log[1].Range != "bytes=1000-65535" {
		t.Errorf("origin log %+v; want the stalled request and one for the rest", log)
	}
	if gap := log[1].At - log[0].At; gap < 200*time.Millisecond {
		t.Errorf("retried %s after the stall began, before Stall (200ms)", gap)
	}
}
