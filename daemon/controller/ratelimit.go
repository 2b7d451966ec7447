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
	// limiterShards is how many locks the buckets are spread over: every call of every host takes
	// one, and under one lock a wake-up's thousands of calls queued for it (5,286 of them at
	// 10,000 simulated hosts), each handed the lock only when the scheduler got round to it.
	limiterShards = 64
)

// hostLimiter is a token bucket per host: a pure policy, the clock is the caller's.
type hostLimiter struct {
	rate   float64 // tokens a second
	burst  float64
	shards [limiterShards]limiterShard
}

type limiterShard struct {
	mu      sync.Mutex
	buckets map[string]*bucket
	swept   time.Time
}

type bucket struct {
	tokens float64
	at     time.Time
}

func newHostLimiter(rate, burst float64) *hostLimiter {
	l := &hostLimiter{rate: rate, burst: burst}
	for i := range l.shards {
		l.shards[i].buckets = map[string]*bucket{}
	}
	return l
}

// shard answers the shard of key's bucket.
func (l *hostLimiter) shard(key string) *limiterShard {
	return &l.shards[fnv32a(key)%limiterShards]
}

// allow takes one token of key's bucket at now; when there is none it answers how long until
// there is.
func (l *hostLimiter) allow(key string, now time.Time) (bool, time.Duration) {
	if l == nil || l.rate <= 0 {
		return true, 0
	}
	sh := l.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	b, ok := sh.buckets[key]
	if !ok {
		if len(sh.buckets) >= hostBucketsSweep/limiterShards && now.Sub(sh.swept) >= time.Second {
			l.sweep(sh, now) // at most once a second: a fleet starting adds thousands of hosts at once
		}
		b = &bucket{tokens: l.burst, at: now}
		sh.buckets[key] = b
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

// sweep forgets the buckets of sh that have filled up again: they hold nothing a new one would
// not. Callers hold sh.mu.
func (l *hostLimiter) sweep(sh *limiterShard, now time.Time) {
	sh.swept = now
	for k, b := range sh.buckets {
		if b.tokens+now.Sub(b.at).Seconds()*l.rate >= l.burst {
			delete(sh.buckets, k)
		}
	}
}

// size answers how many buckets are kept.
func (l *hostLimiter) size() int {
	n := 0
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		n += len(sh.buckets)
		sh.mu.Unlock()
	}
	return n
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
