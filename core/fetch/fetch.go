// Package fetch is the one place that talks HTTP Range to an origin or a relay.
//
// It is strict about what it accepts: an answer whose status, Content-Range,
// length or encoding does not prove it carries exactly the requested bytes is
// rejected before any of it reaches a file.
package fetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	neturl "net/url"
	"strconv"
	"strings"
	"time"
)

// SourceError says the origin could not serve the file, and what to do about it.
type SourceError struct {
	URL    string
	Status int    // HTTP status of the answer; 0 when no answer came
	Reason string // what was wrong and what to do, without the URL
	Err    error  // transport error when no answer came
}

func (e *SourceError) Error() string {
	var s string
	if e.Status == 0 {
		cause := e.Reason
		if e.Err != nil {
			cause = e.Err.Error()
		}
		s = fmt.Sprintf("cannot reach origin %s: %s", e.URL, cause)
	} else {
		s = fmt.Sprintf("origin %s %s", e.URL, e.Reason)
	}
	// One line, whatever a server or the network put into the parts.
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r", " "), "\n", " ")
}

func (e *SourceError) Unwrap() error { return e.Err }

// retryable reports whether another attempt may get a different answer:
// network trouble, overload and server faults may pass; a refusal will not.
func retryable(err error) bool {
	var se *SourceError
	if errors.As(err, &se) {
		switch {
		case se.Status == 0:
			return true
		case se.Status == http.StatusTooManyRequests, se.Status == http.StatusRequestTimeout:
			return true
		case se.Status >= 500:
			return true
		}
		return false
	}
	// Short and broken bodies.
	return true
}

// Probe asks for the first byte of url and returns the file's size from the
// Content-Range of the answer. Anything but a proper 206 is a *SourceError.
func Probe(ctx context.Context, c *http.Client, url string) (int64, error) {
	resp, total, err := open(ctx, c, url, 0, 1, -1)
	if err != nil {
		// An empty file cannot satisfy bytes=0-0; a server that says so with
		// a 416 "bytes */0" or an empty 200 has told us the size.
		var se *SourceError
		if errors.As(err, &se) && total == 0 &&
			(se.Status == http.StatusRequestedRangeNotSatisfiable || se.Status == http.StatusOK) {
			return 0, nil
		}
		return 0, err
	}
	defer resp.Body.Close()
	if total < 0 {
		return 0, &SourceError{URL: url, Status: resp.StatusCode,
			Reason: "does not say the file size (Content-Range total is *): serve it from a server that knows the size"}
	}
	var b [1]byte
	if _, err := readExact(ctx, resp.Body, b[:], url, 0); err != nil {
		return 0, err
	}
	if err := noMore(resp, url, 0, 1); err != nil {
		return 0, err
	}
	return total, nil
}

// GetRange copies bytes [off, off+n) of url to w and returns how many it wrote.
// A short body is an error after the bytes that did come were written; an
// answer that is not the requested range is a *SourceError and writes nothing.
//
// With a gate (at most one; an origin's), every request first passes it, and
// the range is asked for in as many requests as the gate's size bound needs.
func GetRange(ctx context.Context, c *http.Client, url string, off, n int64, w io.Writer, gate ...Gate) (int64, error) {
	if off < 0 || n <= 0 {
		return 0, fmt.Errorf("range of %s: offset %d and length %d must be non-negative and positive", url, off, n)
	}
	var g Gate
	if len(gate) > 0 {
		g = gate[0]
	}
	if g == nil {
		return getRange(ctx, c, nil, url, off, n, w)
	}
	var done int64
	for done < n {
		rctx, release, k, err := admit(ctx, g, n-done)
		if err != nil {
			if gateRetry(err) && ctx.Err() == nil {
				continue
			}
			return done, err
		}
		got, err := getRange(rctx, c, g, url, off+done, k, w)
		release()
		done += got
		if err != nil {
			if ctx.Err() == nil && rctx.Err() != nil {
				// The gate ended the admission (its lease ran out): ask again for the rest.
				continue
			}
			return done, err
		}
	}
	return done, nil
}

// getRange is one request of GetRange; g (may be nil) hears how the origin answered.
func getRange(ctx context.Context, c *http.Client, g Gate, url string, off, n int64, w io.Writer) (int64, error) {
	start := time.Now()
	resp, _, err := open(ctx, c, url, off, n, -1)
	observe(g, start, err)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	// Remember read errors so a failing w is not blamed on the origin.
	r := &trackedReader{r: io.LimitReader(resp.Body, n)}
	written, err := io.Copy(w, r)
	if err != nil && r.err == nil {
		return written, fmt.Errorf("write bytes %d-%d of %s: %w", off, off+n-1, url, err)
	}
	if err != nil || written < n {
		if ctx.Err() != nil {
			return written, ctx.Err()
		}
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return written, shortBody(url, off, n, written, err)
	}
	if err := noMore(resp, url, off, n); err != nil {
		return written, err
	}
	return written, nil
}

type trackedReader struct {
	r   io.Reader
	err error
}

func (t *trackedReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if err != nil && err != io.EOF {
		t.err = err
	}
	return n, err
}

// open sends a Range GET for [off, off+n) and returns the answer once its
// status and headers prove the body is exactly those bytes. want is the file
// size the caller expects (-1 if unknown). The returned total is the size the
// answer states (-1 if it did not), also on a 416 answer.
func open(ctx context.Context, c *http.Client, url string, off, n, want int64) (*http.Response, int64, error) {
	if c == nil {
		c = http.DefaultClient
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, -1, fmt.Errorf("request for %s: %w", url, err)
	}
	last := off + n - 1
	req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", off, last))
	// Ranges of a compressed representation are not ranges of the file; asking
	// for identity also stops the transport from decompressing behind our back.
	req.Header.Set("Accept-Encoding", "identity")
	resp, err := c.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, -1, ctx.Err()
		}
		return nil, -1, &SourceError{URL: url, Err: unwrapURLError(err)}
	}
	bad := func(reason string, args ...any) (*http.Response, int64, error) {
		discard(resp)
		return nil, -1, &SourceError{URL: url, Status: resp.StatusCode, Reason: fmt.Sprintf(reason, args...)}
	}
	status := statusText(resp.StatusCode)
	switch resp.StatusCode {
	case http.StatusPartialContent:
	case http.StatusOK:
		// Go's own file server answers an empty file with 200 and no body
		// whatever the Range; that states the size and carries no bytes.
		if resp.ContentLength == 0 {
			discard(resp)
			return nil, 0, &SourceError{URL: url, Status: resp.StatusCode,
				Reason: "answered 200 with an empty body to a Range request: the file is empty"}
		}
		return bad("ignores Range requests (answered 200 to a Range request): serve it from a server with Range support")
	case http.StatusRequestedRangeNotSatisfiable:
		total := int64(-1)
		if f, _, t, ok := parseContentRange(resp.Header.Get("Content-Range")); ok && f < 0 {
			total = t
		}
		discard(resp)
		reason := fmt.Sprintf("answered %s for bytes %d-%d: the file is shorter than expected; check that it did not change", status, off, last)
		if total >= 0 {
			reason = fmt.Sprintf("answered %s for bytes %d-%d of a %d-byte file: the file is shorter than expected; check that it did not change", status, off, last, total)
		}
		return nil, total, &SourceError{URL: url, Status: resp.StatusCode, Reason: reason}
	default:
		return bad("answered %s: %s", status, advice(resp.StatusCode))
	}

	if enc := resp.Header.Get("Content-Encoding"); enc != "" && !strings.EqualFold(enc, "identity") {
		return bad("answered with Content-Encoding %q to a request for identity: serve the file without compression", enc)
	}
	cr := resp.Header.Get("Content-Range")
	first, end, total, ok := parseContentRange(cr)
	if !ok || first < 0 {
		return bad("answered 206 with Content-Range %q for bytes %d-%d: serve it from a server with correct Range support", cr, off, last)
	}
	if want >= 0 && total >= 0 && total != want {
		return bad("now says the file is %d bytes, not %d: the file changed at the origin; start the transfer again", total, want)
	}
	if first != off || end != last {
		if total >= 0 && last >= total {
			return bad("has only %d bytes, so bytes %d-%d are past its end: check the expected size", total, off, last)
		}
		return bad("answered 206 with Content-Range %q for bytes %d-%d: serve it from a server with correct Range support", cr, off, last)
	}
	if resp.ContentLength >= 0 && resp.ContentLength != n {
		return bad("answered 206 with Content-Length %d for a %d-byte range: serve it from a server with correct Range support", resp.ContentLength, n)
	}
	return resp, total, nil
}

// readExact fills dst from r; a short body becomes an error naming the range.
func readExact(ctx context.Context, r io.Reader, dst []byte, url string, off int64) (int, error) {
	got, err := io.ReadFull(r, dst)
	if err != nil {
		if ctx.Err() != nil {
			return got, ctx.Err()
		}
		return got, shortBody(url, off, int64(len(dst)), int64(got), err)
	}
	return got, nil
}

func shortBody(url string, off, n, got int64, err error) error {
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("origin %s sent %d of %d bytes for bytes %d-%d: %w", url, got, n, off, off+n-1, err)
}

// noMore checks that a body of unknown length ends where the range does; with
// a Content-Length the transport already enforces that.
func noMore(resp *http.Response, url string, off, n int64) error {
	if resp.ContentLength >= 0 {
		return nil
	}
	var b [1]byte
	if k, _ := io.ReadFull(resp.Body, b[:]); k > 0 {
		return &SourceError{URL: url, Status: resp.StatusCode,
			Reason: fmt.Sprintf("sent more than the %d bytes of range %d-%d: serve it from a server with correct Range support", n, off, off+n-1)}
	}
	return nil
}

// discard drains a little of a rejected body so a small error page does not
// cost the connection, and closes it.
func discard(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	_ = resp.Body.Close()
}

// unwrapURLError drops the *url.Error layer, whose text repeats the method and
// URL that SourceError already names.
func unwrapURLError(err error) error {
	var ue *neturl.Error
	if errors.As(err, &ue) && ue.Err != nil {
		return ue.Err
	}
	return err
}

func statusText(code int) string {
	if t := http.StatusText(code); t != "" {
		return fmt.Sprintf("%d %s", code, t)
	}
	return strconv.Itoa(code)
}

func advice(code int) string {
	switch {
	case code == http.StatusNotFound, code == http.StatusGone:
		return "check the URL"
	case code == http.StatusUnauthorized, code == http.StatusForbidden:
		return "check the origin's access rules for this host"
	case code == http.StatusTooManyRequests:
		return "the origin is rate limiting; lower the origin quota"
	case code >= 500:
		return "the origin server is failing; check it"
	case code >= 300 && code < 400:
		return "follow the redirect by hand and use the final URL"
	}
	return "check the URL and the origin server"
}

// parseContentRange parses "bytes first-last/total", where total may be "*"
// (returned as -1), and the "bytes */total" of a 416 answer (first = last = -1).
// Only plain digits are accepted: no signs, no spaces.
func parseContentRange(s string) (first, last, total int64, ok bool) {
	unit, rest, found := strings.Cut(s, " ")
	if !found || !strings.EqualFold(unit, "bytes") {
		return 0, 0, 0, false
	}
	span, size, found := strings.Cut(rest, "/")
	if !found {
		return 0, 0, 0, false
	}
	total = -1
	if size != "*" {
		if total, ok = digits(size); !ok {
			return 0, 0, 0, false
		}
	}
	if span == "*" {
		if total < 0 {
			return 0, 0, 0, false
		}
		return -1, -1, total, true
	}
	a, b, found := strings.Cut(span, "-")
	if !found {
		return 0, 0, 0, false
	}
	if first, ok = digits(a); !ok {
		return 0, 0, 0, false
	}
	if last, ok = digits(b); !ok || last < first || (total >= 0 && last >= total) {
		return 0, 0, 0, false
	}
	return first, last, total, true
}

func digits(s string) (int64, bool) {
	if s == "" || len(s) > 18 {
		return 0, false
	}
	var v int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int64(c-'0')
	}
	return v, true
}
