// Package fetch is the one place that talks HTTP Range to an origin or a relay.
//
// It is strict about what it accepts: an answer whose status, Content-Range,
// length or encoding does not prove it carries exactly the requested bytes is
// rejected before any of it reaches a file.
//
// Errors say whether another attempt can help: a *SourceError of a final answer
// matches ErrSourceGone (404, 410), ErrSourceChanged (another version or size of
// the file) or ErrSourceRefused (any other 4xx but 408 and 429, a redirect, an
// answer that is not the range) with errors.Is, and Final reports any of them.
// Pull retries the others a bounded number of times within a bounded time,
// waiting at least the origin's Retry-After (at most MaxRetryAfter), and ends
// with an error matching ErrSourceUnavailable when they run out.
//
// A transfer holds to one version of the file (a Validator): the ETag and
// Last-Modified of the first answer, or those a caller got from ProbeValidator
// or an earlier transfer. Later requests carry If-Match (strong ETag) or
// If-Range (Last-Modified, when the ETag is weak or missing; If-Range takes no
// weak tag), and every answer must state the same validators and size. When the
// origin sends neither ETag nor Last-Modified only the size can be checked: a
// same-size change goes unnoticed here, and only a checksum of the whole file
// can catch it.
package fetch

import (
	"context"
	"dist/core/lowat"
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

	// Kind is ErrSourceGone, ErrSourceChanged or ErrSourceRefused when the answer is final (errors.Is
	// matches it); nil when another attempt may get a different answer.
	Kind error
	// Text is the start of the origin's error page when it was text, as Reason quotes it.
	Text string
	// RetryAfter is the origin's Retry-After (at most MaxRetryAfter); 0 when it sent none.
	RetryAfter time.Duration
}

func (e *SourceError) Error() string {
	var s string
	switch {
	case e.Status == 0 && e.Kind == nil:
		cause := e.Reason
		if e.Err != nil {
			cause = e.Err.Error()
		}
		s = fmt.Sprintf("cannot reach origin %s: %s", e.URL, cause)
	case e.Kind == ErrSourceChanged:
		// The reason leads: it is what the distribution fails with.
		s = fmt.Sprintf("%s (%s)", e.Reason, e.URL)
	default:
		s = fmt.Sprintf("origin %s %s", e.URL, e.Reason)
	}
	// One line, whatever a server or the network put into the parts.
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r", " "), "\n", " ")
}

func (e *SourceError) Unwrap() error { return e.Err }

// Is matches the final kind of the answer (ErrSourceGone, ErrSourceChanged, ErrSourceRefused).
func (e *SourceError) Is(target error) bool { return e.Kind != nil && target == e.Kind }

// retryable reports whether another attempt may get a different answer:
// network trouble, overload and server faults may pass; a refusal will not.
func retryable(err error) bool {
	var se *SourceError
	if errors.As(err, &se) {
		switch {
		case se.Kind != nil:
			return false
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
	return !Final(err)
}

// kindOf is the final kind of an error answer with this status, nil when it may pass.
func kindOf(status int) error {
	switch {
	case status == http.StatusNotFound, status == http.StatusGone:
		return ErrSourceGone
	case status == http.StatusRequestTimeout, status == http.StatusTooManyRequests, status >= 500:
		return nil
	}
	return ErrSourceRefused
}

// Probe asks for the first byte of url and returns the file's size from the
// Content-Range of the answer. Anything but a proper 206 is a *SourceError.
func Probe(ctx context.Context, c *http.Client, url string) (int64, error) {
	size, _, err := ProbeValidator(ctx, c, url)
	return size, err
}

// ProbeValidator is Probe that also returns the version of the file it saw, for Pull.Validator
// and GetRangeIf: a transfer given it refuses any other version, also one that changed between
// the probe and the transfer. The Validator is zero when the origin sends neither ETag nor
// Last-Modified; then only the size can be checked.
func ProbeValidator(ctx context.Context, c *http.Client, url string) (int64, Validator, error) {
	pn := newPin(Validator{})
	resp, total, err := open(ctx, c, url, 0, 1, -1, pn)
	if err != nil {
		// An empty file cannot satisfy bytes=0-0; a server that says so with
		// a 416 "bytes */0" or an empty 200 has told us the size.
		var se *SourceError
		if errors.As(err, &se) && total == 0 &&
			(se.Status == http.StatusRequestedRangeNotSatisfiable || se.Status == http.StatusOK) {
			return 0, Validator{}, nil
		}
		return 0, Validator{}, err
	}
	defer resp.Body.Close()
	if total < 0 {
		return 0, Validator{}, &SourceError{URL: url, Status: resp.StatusCode, Kind: ErrSourceRefused,
			Reason: "does not say the file size (Content-Range total is *): serve it from a server that knows the size"}
	}
	var b [1]byte
	if _, err := readExact(ctx, resp.Body, b[:], url, 0); err != nil {
		return 0, Validator{}, err
	}
	if err := noMore(resp, url, 0, 1); err != nil {
		return 0, Validator{}, err
	}
	v, _ := pn.get()
	return total, v, nil
}

// GetRange copies bytes [off, off+n) of url to w and returns how many it wrote.
// A short body is an error after the bytes that did come were written; an
// answer that is not the requested range is a *SourceError and writes nothing.
// It holds to no version of the file; GetRangeIf does.
//
// With a gate (at most one; an origin's), every request first passes it, and
// the range is asked for in as many requests as the gate's size bound needs.
func GetRange(ctx context.Context, c *http.Client, url string, off, n int64, w io.Writer, gate ...Gate) (int64, error) {
	return getRanges(ctx, c, url, off, n, w, nil, gate)
}

// GetRangeIf is GetRange held to one version of the file: v's, or when v is zero the version of
// the first answer. Every request carries If-Match (a strong ETag) or If-Range (Last-Modified),
// and an answer of another version (412, a whole file, another ETag, Last-Modified or size) is an
// error matching ErrSourceChanged that writes nothing. It returns the version held to, for the
// caller's next range of the same file.
func GetRangeIf(ctx context.Context, c *http.Client, url string, off, n int64, w io.Writer, v Validator, gate ...Gate) (int64, Validator, error) {
	pn := newPin(v)
	got, err := getRanges(ctx, c, url, off, n, w, pn, gate)
	pinned, _ := pn.get()
	return got, pinned, err
}

func getRanges(ctx context.Context, c *http.Client, url string, off, n int64, w io.Writer, pn *pin, gate []Gate) (int64, error) {
	if off < 0 || n <= 0 {
		return 0, fmt.Errorf("range of %s: offset %d and length %d must be non-negative and positive", url, off, n)
	}
	var g Gate
	if len(gate) > 0 {
		g = gate[0]
	}
	if g == nil {
		got, _, err := getRange(ctx, c, nil, url, off, n, w, pn)
		return got, err
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
		got, unsent, err := getRange(rctx, c, g, url, off+done, k, w, pn)
		// Before release: release ends rctx, and the gate counts the refund under the grant
		// that charged it only while the connection is held.
		ended := rctx.Err() != nil
		refund(g, unsent)
		release()
		done += got
		if err != nil {
			if ctx.Err() == nil && ended {
				// The gate ended the admission (its lease ran out): ask again for the rest.
				continue
			}
			return done, err
		}
	}
	return done, nil
}

// getRange is one request of GetRange; g (may be nil) hears how the origin answered. unsent is how
// many of the n bytes the origin surely did not send (see refund).
func getRange(ctx context.Context, c *http.Client, g Gate, url string, off, n int64, w io.Writer, pn *pin) (got, unsent int64, err error) {
	start := time.Now()
	resp, _, err := open(ctx, c, url, off, n, -1, pn)
	observe(g, start, err)
	if err != nil {
		return 0, unsentOf(ctx, err, n, 0), err
	}
	defer resp.Body.Close()
	// Remember read errors so a failing w is not blamed on the origin.
	r := &trackedReader{r: io.LimitReader(resp.Body, n)}
	written, err := io.Copy(w, r)
	if err != nil && r.err == nil {
		// We stopped reading: the origin may have sent ahead.
		return written, 0, fmt.Errorf("write bytes %d-%d of %s: %w", off, off+n-1, url, err)
	}
	if err != nil || written < n {
		if ctx.Err() != nil {
			return written, 0, ctx.Err()
		}
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return written, n - written, shortBody(url, off, n, written, err)
	}
	if err := noMore(resp, url, off, n); err != nil {
		return written, 0, err
	}
	return written, 0, nil
}

// unsentOf is how many of the n bytes of a failed request the origin surely did not send, got of
// them having come. An error answer (or none) carried no file bytes; a body the origin ended short
// carried only what came. A 2xx answer refused unread, or a body we stopped reading, may have
// been sent ahead into socket buffers whatever we read, so nothing of it is given back.
func unsentOf(ctx context.Context, err error, n, got int64) int64 {
	if err == nil || ctx.Err() != nil {
		return 0
	}
	var se *SourceError
	if errors.As(err, &se) && se.Status >= 200 && se.Status < 300 {
		return 0
	}
	return n - got
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
// answer states (-1 if it did not), also on a 416 answer. With a pin (may be
// nil) the request is conditional on the pinned version, and the answer must
// be of it; without a pinned version yet, the answer's is pinned.
func open(ctx context.Context, c *http.Client, url string, off, n, want int64, pn *pin) (*http.Response, int64, error) {
	if c == nil {
		c = http.DefaultClient
	}
	var lw lowat.Hook
	req, err := http.NewRequestWithContext(lowat.Trace(ctx, &lw), http.MethodGet, url, nil)
	if err != nil {
		return nil, -1, fmt.Errorf("request for %s: %w", url, err)
	}
	last := off + n - 1
	req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", off, last))
	// Ranges of a compressed representation are not ranges of the file; asking
	// for identity also stops the transport from decompressing behind our back.
	req.Header.Set("Accept-Encoding", "identity")
	pinned, isPinned := pn.get()
	ifRange := isPinned && condition(req, pinned)
	resp, err := c.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, -1, ctx.Err()
		}
		return nil, -1, &SourceError{URL: url, Err: unwrapURLError(err)}
	}
	fail := func(kind error, reason string, args ...any) (*http.Response, int64, error) {
		discard(resp)
		return nil, -1, &SourceError{URL: url, Status: resp.StatusCode, Kind: kind, Reason: fmt.Sprintf(reason, args...)}
	}
	bad := func(reason string, args ...any) (*http.Response, int64, error) {
		return fail(ErrSourceRefused, reason, args...)
	}
	changed := func(reason string, args ...any) (*http.Response, int64, error) {
		return fail(ErrSourceChanged, "origin file changed during the pull: "+reason+"; start the transfer again", args...)
	}
	status := statusText(resp.StatusCode)
	switch resp.StatusCode {
	case http.StatusPartialContent:
	case http.StatusOK:
		if ifRange {
			return changed("answered %s (the whole file) to If-Range %s", status, pinned.LastModified)
		}
		// Go's own file server answers an empty file with 200 and no body
		// whatever the Range; that states the size and carries no bytes.
		if resp.ContentLength == 0 {
			discard(resp)
			return nil, 0, &SourceError{URL: url, Status: resp.StatusCode, Kind: ErrSourceRefused,
				Reason: "answered 200 with an empty body to a Range request: the file is empty"}
		}
		return bad("ignores Range requests (answered 200 to a Range request): serve it from a server with Range support")
	case http.StatusPreconditionFailed:
		if isPinned && !pinned.IsZero() {
			return changed("answered %s to If-Match %s", status, pinned.ETag)
		}
		return bad("answered %s to an unconditional request: check the origin server", status)
	case http.StatusRequestedRangeNotSatisfiable:
		total := int64(-1)
		if f, _, t, ok := parseContentRange(resp.Header.Get("Content-Range")); ok && f < 0 {
			total = t
		}
		discard(resp)
		se := &SourceError{URL: url, Status: resp.StatusCode, Kind: ErrSourceRefused}
		switch {
		case want >= 0 && total >= 0:
			se.Kind, se.Reason = ErrSourceChanged, fmt.Sprintf("origin file changed size: was %d, now %d; start the transfer again", want, total)
		case want >= 0:
			se.Kind, se.Reason = ErrSourceChanged, fmt.Sprintf("origin file changed size: was %d, now shorter than %d (answered %s for bytes %d-%d); start the transfer again", want, last+1, status, off, last)
		case total >= 0:
			se.Reason = fmt.Sprintf("answered %s for bytes %d-%d of a %d-byte file: the file is shorter than expected; check that it did not change", status, off, last, total)
		default:
			se.Reason = fmt.Sprintf("answered %s for bytes %d-%d: the file is shorter than expected; check that it did not change", status, off, last)
		}
		return nil, total, se
	default:
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		_ = resp.Body.Close()
		text := answerText(resp, body)
		reason := fmt.Sprintf("answered %s: %s", status, advice(resp.StatusCode))
		if text != "" {
			reason += fmt.Sprintf(" (it says %q)", text)
		}
		ra := retryAfter(resp.Header, time.Now())
		if ra > 0 {
			reason += fmt.Sprintf(" (it asks to retry after %s)", ra)
		}
		return nil, -1, &SourceError{URL: url, Status: resp.StatusCode, Kind: kindOf(resp.StatusCode),
			Reason: reason, Text: text, RetryAfter: ra}
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
		return fail(ErrSourceChanged, "origin file changed size: was %d, now %d; start the transfer again", want, total)
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
	if why := pn.check(validatorOf(resp.Header), total); why != "" {
		return changed("%s", why)
	}
	if resp.ContentLength == n {
		lw.Expect(n) // the range is read in batches of packets
		resp.Body = awaitedBody{resp.Body, &lw}
	}
	return resp, total, nil
}

// awaitedBody is a range's body whose connection waits for batches of its bytes until it is
// closed.
type awaitedBody struct {
	io.ReadCloser
	lw *lowat.Hook
}

func (b awaitedBody) Close() error {
	b.lw.Done()
	return b.ReadCloser.Close()
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
		return &SourceError{URL: url, Status: resp.StatusCode, Kind: ErrSourceRefused,
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
