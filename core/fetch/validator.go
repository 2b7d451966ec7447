package fetch

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Final errors: another attempt cannot help. A *SourceError matches one of them with errors.Is
// when its answer was final; Final reports whether an error is one.
var (
	// ErrSourceGone: the origin says the file is not there (404 Not Found, 410 Gone).
	ErrSourceGone = errors.New("origin file is gone")
	// ErrSourceChanged: the file at the origin is not the one the transfer began with (another
	// size, another ETag or Last-Modified, 412 Precondition Failed, a whole file to an If-Range).
	ErrSourceChanged = errors.New("origin file changed")
	// ErrSourceRefused: any other final answer: another 4xx (except 408 and 429), a redirect, or an
	// answer that is not the requested range.
	ErrSourceRefused = errors.New("origin refused the request")
	// ErrSourceUnavailable: the origin kept failing (5xx, 429, network, short bodies) through
	// every retry a chunk was allowed, in count or in time.
	ErrSourceUnavailable = errors.New("origin kept failing")
)

// MaxRetryAfter caps the origin's Retry-After: a longer wait (or a date further ahead) is taken as
// this long, so a misconfigured origin cannot park a transfer for days.
const MaxRetryAfter = 5 * time.Minute

// Final reports whether err is a final answer of the origin: gone, changed or refused.
func Final(err error) bool {
	return errors.Is(err, ErrSourceGone) || errors.Is(err, ErrSourceChanged) || errors.Is(err, ErrSourceRefused)
}

// Validator identifies one version of a file at an origin: the ETag and Last-Modified of its
// answers, as sent. The zero Validator knows none (the origin sent neither).
type Validator struct {
	ETag         string // e.g. `"abc"` or `W/"abc"`; "" when none was sent
	LastModified string // an HTTP date; "" when none was sent
}

// IsZero reports whether v knows no validator.
func (v Validator) IsZero() bool { return v.ETag == "" && v.LastModified == "" }

// Strong reports whether v has a strong ETag, the only kind If-Match may carry.
func (v Validator) Strong() bool { return v.ETag != "" && !strings.HasPrefix(v.ETag, "W/") }

func (v Validator) String() string {
	switch {
	case v.ETag != "" && v.LastModified != "":
		return fmt.Sprintf("ETag %s, Last-Modified %s", v.ETag, v.LastModified)
	case v.ETag != "":
		return "ETag " + v.ETag
	case v.LastModified != "":
		return "Last-Modified " + v.LastModified
	}
	return "no validator"
}

// validatorOf reads the validators of an answer.
func validatorOf(h http.Header) Validator {
	return Validator{ETag: strings.TrimSpace(h.Get("ETag")), LastModified: strings.TrimSpace(h.Get("Last-Modified"))}
}

// condition sets the request headers that make the origin refuse to serve another version than v:
// If-Match with a strong ETag (a 412 on a change), else If-Range with the Last-Modified date (the
// whole file, a 200, on a change). It reports whether it sent If-Range. A weak ETag alone can go
// in neither (If-Range needs a strong validator or a date): such answers are only compared.
func condition(req *http.Request, v Validator) (ifRange bool) {
	switch {
	case v.Strong():
		req.Header.Set("If-Match", v.ETag)
	case v.LastModified != "":
		req.Header.Set("If-Range", v.LastModified)
		return true
	}
	return false
}

// differs says how the validators of an answer differ from pinned, or "" when they do not. A strong
// ETag decides alone (equal tags mean equal bytes, whatever the dates of different servers say);
// otherwise each validator the pin has must come back unchanged.
func differs(pinned, got Validator) string {
	if pinned.Strong() {
		if got.ETag != pinned.ETag {
			return fmt.Sprintf("it now has ETag %s, the transfer began with %s", orNone(got.ETag), pinned.ETag)
		}
		return ""
	}
	if pinned.ETag != "" && opaque(got.ETag) != opaque(pinned.ETag) {
		return fmt.Sprintf("it now has ETag %s, the transfer began with %s", orNone(got.ETag), pinned.ETag)
	}
	if pinned.LastModified != "" && !sameDate(got.LastModified, pinned.LastModified) {
		return fmt.Sprintf("it now has Last-Modified %s, the transfer began with %s", orNone(got.LastModified), pinned.LastModified)
	}
	return ""
}

func opaque(etag string) string { return strings.TrimPrefix(etag, "W/") }

func sameDate(a, b string) bool {
	if a == b {
		return true
	}
	ta, err1 := http.ParseTime(a)
	tb, err2 := http.ParseTime(b)
	return err1 == nil && err2 == nil && ta.Equal(tb)
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// pin is the version of the file a transfer holds to: set from the caller's Validator, or from the
// first valid answer. Workers share it.
type pin struct {
	mu    sync.Mutex
	set   bool
	v     Validator
	total int64 // the size the first answer stated; -1 unknown
}

func newPin(v Validator) *pin {
	return &pin{set: !v.IsZero(), v: v, total: -1}
}

// get returns the pinned validator and whether one is pinned yet.
func (p *pin) get() (Validator, bool) {
	if p == nil {
		return Validator{}, false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.v, p.set
}

// check pins the answer's version if none is pinned, else compares it; it returns why the answer
// is of another version, or "".
func (p *pin) check(got Validator, total int64) string {
	if p == nil {
		return ""
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.total < 0 {
		p.total = total
	} else if total >= 0 && total != p.total {
		return fmt.Sprintf("it is now %d bytes, the transfer began with %d", total, p.total)
	}
	if !p.set {
		p.set, p.v = true, got
		return ""
	}
	return differs(p.v, got)
}

// retryAfter reads a Retry-After header: seconds or an HTTP date, at most MaxRetryAfter; 0 when
// absent, unreadable or past.
func retryAfter(h http.Header, now time.Time) time.Duration {
	s := strings.TrimSpace(h.Get("Retry-After"))
	if s == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.ParseInt(s, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		if secs > int64(MaxRetryAfter/time.Second) {
			return MaxRetryAfter
		}
		d = time.Duration(secs) * time.Second
	} else if t, err := http.ParseTime(s); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), MaxRetryAfter)
}

// answerText is the start of an error page, for people: one line, printable, at most 200 bytes;
// "" when the body is not text.
func answerText(resp *http.Response, body []byte) string {
	ct := strings.ToLower(resp.Header.Get("Content-Type"))
	if ct != "" && !strings.HasPrefix(ct, "text/") && !strings.Contains(ct, "json") && !strings.Contains(ct, "xml") {
		return ""
	}
	s := strings.ToValidUTF8(string(body), "")
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 200 {
		s = strings.ToValidUTF8(s[:200], "") + "…"
	}
	return s
}
