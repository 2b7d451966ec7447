package origin

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestReplace: a new version has other bytes, another ETag and a later Last-Modified, also when it
// is made within the same second; ReplaceAfter takes effect exactly after n requests.
func TestReplace(t *testing.T) {
	t.Parallel()
	const size = 4096
	o, v1 := startOrigin(t, size, Options{})
	c := newClient(t)
	p := filepath.Join(t.TempDir(), "v2.bin")
	if _, err := Generate(p, size, 8); err != nil {
		t.Fatal(err)
	}
	v2, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	etag1, mod1 := o.Current()
	if err := o.ReplaceAfter(2, p); err != nil {
		t.Fatal(err)
	}
	var tags []string
	for i, want := range [][]byte{v1, v1, v2, v2} {
		resp, body := get(t, c, o.URL(), "bytes=0-99")
		if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, want[:100]) {
			t.Errorf("request %d: %d with the wrong version's bytes", i+1, resp.StatusCode)
		}
		tags = append(tags, resp.Header.Get("ETag"))
	}
	etag2, mod2 := o.Current()
	if tags[0] != etag1 || tags[2] != etag2 || etag1 == etag2 || mod1 == mod2 {
		t.Errorf("ETags %v; versions %s %s and %s %s: want both validators to change", tags, etag1, mod1, etag2, mod2)
	}
	// If-Match with the old ETag is refused; If-Range with the old date gets the whole file.
	for _, h := range []struct {
		name, value string
		want        int
	}{
		{"If-Match", etag1, http.StatusPreconditionFailed},
		{"If-Range", mod1, http.StatusOK},
		{"If-Match", etag2, http.StatusPartialContent},
	} {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, o.URL(), nil)
		req.Header.Set("Range", "bytes=0-9")
		req.Header.Set(h.name, h.value)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != h.want {
			t.Errorf("%s %s: %d, want %d", h.name, h.value, resp.StatusCode, h.want)
		}
	}
	if l := o.Log(); len(l) != 7 || l[4].IfMatch != etag1 || l[5].IfRange != mod1 {
		t.Errorf("log %+v does not record the conditional headers", l)
	}
}

// TestFailAndStatusCounts: a counted fault answers its status with Retry-After that many times;
// an open one until Heal; StatusCounts counts every answer.
func TestFailAndStatusCounts(t *testing.T) {
	t.Parallel()
	o, _ := startOrigin(t, 1000, Options{})
	c := newClient(t)
	o.Fail(Fault{Status: http.StatusTooManyRequests, RetryAfter: "7", Count: 2})
	for range 2 {
		if resp, _ := get(t, c, o.URL(), "bytes=0-9"); resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "7" {
			t.Errorf("answered %d with Retry-After %q, want 429 and 7", resp.StatusCode, resp.Header.Get("Retry-After"))
		}
	}
	if resp, _ := get(t, c, o.URL(), "bytes=0-9"); resp.StatusCode != 206 {
		t.Errorf("after the counted fault: %d, want 206", resp.StatusCode)
	}
	o.Fail(Fault{Status: http.StatusGone})
	for range 3 {
		if resp, _ := get(t, c, o.URL(), "bytes=0-9"); resp.StatusCode != 410 {
			t.Errorf("open fault: %d, want 410", resp.StatusCode)
		}
	}
	o.Heal()
	if resp, _ := get(t, c, o.URL(), "bytes=0-9"); resp.StatusCode != 206 {
		t.Errorf("after Heal: %d, want 206", resp.StatusCode)
	}
	want := map[int]int64{429: 2, 206: 2, 410: 3}
	got := o.StatusCounts()
	if len(got) != len(want) || got[429] != 2 || got[206] != 2 || got[410] != 3 {
		t.Errorf("StatusCounts = %v, want %v", got, want)
	}
	if st := o.Stats(); st.BytesServed != 20 || st.Requests != 7 {
		t.Errorf("stats %+v: want 7 requests and 20 bytes served", st)
	}
}

// TestStall: a stalled answer sends its first bytes and hangs until Heal, then finishes.
func TestStall(t *testing.T) {
	t.Parallel()
	const size = 64 << 10
	o, data := startOrigin(t, size, Options{})
	c := newClient(t)
	o.Stall(100, 1)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, o.URL(), nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	head := make([]byte, 100)
	if _, err := io.ReadFull(resp.Body, head); err != nil || !bytes.Equal(head, data[:100]) {
		t.Fatalf("before the stall: %v", err)
	}
	got := make(chan []byte)
	go func() {
		rest, _ := io.ReadAll(resp.Body)
		got <- rest
	}()
	select {
	case <-got:
		t.Fatal("the body went on before Heal")
	case <-time.After(100 * time.Millisecond): // a bounded look for bytes that must not come
	}
	o.Heal()
	select {
	case rest := <-got:
		if !bytes.Equal(rest, data[100:]) {
			t.Errorf("after Heal: %d bytes, want the other %d", len(rest), size-100)
		}
	case <-ctx.Done():
		t.Fatal("the stalled answer did not go on after Heal")
	}
	// The next request is not stalled.
	if resp, body := get(t, c, o.URL(), ""); resp.StatusCode != 200 || len(body) != size {
		t.Errorf("after the stall: %d with %d bytes", resp.StatusCode, len(body))
	}
}

// TestValidatorOptions: weak, missing ETag and missing Last-Modified.
func TestValidatorOptions(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		opts         Options
		weak, etag   bool
		lastModified bool
	}{
		{Options{}, false, true, true},
		{Options{WeakETag: true}, true, true, true},
		{Options{NoETag: true}, false, false, true},
		{Options{NoETag: true, NoLastModified: true}, false, false, false},
	} {
		o, _ := startOrigin(t, 100, tc.opts)
		resp, _ := get(t, newClient(t), o.URL(), "bytes=0-9")
		etag, mod := resp.Header.Get("ETag"), resp.Header.Get("Last-Modified")
		if (etag != "") != tc.etag || (len(etag) > 2 && etag[:2] == "W/") != tc.weak || (mod != "") != tc.lastModified {
			t.Errorf("%+v: ETag %q, Last-Modified %q", tc.opts, etag, mod)
		}
	}
}
