package controller

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"dist/core/api"
)

// Per-host request limits. A real agent asks a few times a second at most (a watch held for
// api.WatchPollTimeout, a report every 1–10 s, peers asks, lease renewals): the defaults are far
// above that and only stop a host, or a stolen certificate, that floods the controller.
const (
	DefaultHostRate  = 50  // requests a second, sustained
	DefaultHostBurst = 500 // requests at once after a quiet while
	// hostBucketsSweep is how many buckets there may be before full ones are forgotten.
	hostBucketsSweep = 4096
)

// hostLimiter is a token bucket per host: a pure policy, the clock is the caller's.
type hostLimiter struct {
	mu      sync.Mutex
	rate    float64 // tokens a second
	burst   float64
	buckets map[string]*bucket
	swept   time.Time
}

type bucket struct {
	tokens float64
	at     time.Time
}

func newHostLimiter(rate, burst float64) *hostLimiter {
	return &hostLimiter{rate: rate, burst: burst, buckets: map[string]*bucket{}}
}

// allow takes one token of key's bucket at now; when there is none it answers how long until
// there is.
func (l *hostLimiter) allow(key string, now time.Time) (bool, time.Duration) {
	if l == nil || l.rate <= 0 {
		return true, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= hostBucketsSweep && now.Sub(l.swept) >= time.Second {
			l.sweep(now) // at most once a second: a fleet starting adds thousands of hosts at once
		}
		b = &bucket{tokens: l.burst, at: now}
		l.buckets[key] = b
	}
	if dt := now.Sub(b.at); dt > 0 {
		b.tokens = min(l.burst, b.tokens+dt.Seconds()*l.rate)
		b.at = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	wait := time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
	return false, max(wait, time.Millisecond)
}

// sweep forgets the buckets that have filled up again: they hold nothing a new one would not.
func (l *hostLimiter) sweep(now time.Time) {
	l.swept = now
	for k, b := range l.buckets {
		if b.tokens+now.Sub(b.at).Seconds()*l.rate >= l.burst {
			delete(l.buckets, k)
		}
	}
}

// limitHost answers 429 with Retry-After when the calling host has spent its bucket. The key is
// the verified host name; a plain-mode host is keyed by the name it claims (?host=) and is not
// limited when it claims none.
func (s *Server) limitHost(w http.ResponseWriter, r *http.Request, c caller) error {
	key := c.name
	if !c.verified {
		key = queryValue(r.URL.RawQuery, "host")
	}
	if key == "" {
		return nil
	}
	// Wall time, not Options.Now: a limit on request rates is about real seconds.
	ok, wait := s.trust.limiter.allow(key, s.trust.clock())
	if ok {
		return nil
	}
	secs := max(int((wait+time.Second-1)/time.Second), 1)
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	return errorf(http.StatusTooManyRequests, api.CodeOverloaded,
		"host %s sends more than %d requests a second: ask again in %d s", key, int(s.trust.limiter.rate), secs)
}

// queryValue answers r.URL.Query().Get(key) for a raw query without parsing all of it into a
// map: a host's calls name it in the query, and each look at it parsed the whole query anew.
func queryValue(raw, key string) string {
	if strings.Count(raw, "&") >= 8 {
		q, _ := url.ParseQuery(raw) // many parameters: url's own parse, with its bound on them
		return q.Get(key)
	}
	for raw != "" {
		var kv string
		kv, raw, _ = strings.Cut(raw, "&")
		if kv == "" || strings.Contains(kv, ";") {
			continue // url.ParseQuery skips these
		}
		k, v, _ := strings.Cut(kv, "=")
		if k, err := unescapeQuery(k); err != nil || k != key {
			continue
		}
		if v, err := unescapeQuery(v); err == nil {
			return v
		}
	}
	return ""
}

// unescapeQuery is url.QueryUnescape, which allocates only when there is something to unescape.
func unescapeQuery(s string) (string, error) {
	if !strings.ContainsAny(s, "%+") {
		return s, nil
	}
	return url.QueryUnescape(s)
}
