package api

import (
	"fmt"
	"net/url"
	"strings"
	"time"
)

// OriginPolicy is an origin's global limits, as the controller keeps them. A zero limit is none.
type OriginPolicy struct {
	Origin   string `json:"origin"`    // scheme://host[:port], see OriginKey
	MaxConns int    `json:"max_conns"` // concurrent connections (requests in flight) of all hosts together
	MaxRate  int64  `json:"max_rate"`  // bytes/s of all hosts together
	MaxBytes int64  `json:"max_bytes"` // bytes per window
	WindowS  int64  `json:"window_s"`  // byte-budget window in seconds; 0 = a day
}

// OriginUpdate is the body of PUT /v1/origins: the fields given change, the others stay.
type OriginUpdate struct {
	Origin   string `json:"origin"`
	MaxConns *int   `json:"max_conns,omitempty"`
	MaxRate  *int64 `json:"max_rate,omitempty"`
	MaxBytes *int64 `json:"max_bytes,omitempty"`
	WindowS  *int64 `json:"window_s,omitempty"`
}

// OriginStatus is one origin in GET /v1/origins: its policy and what is leased and spent now.
type OriginStatus struct {
	OriginPolicy
	Factor      float64   `json:"factor"`    // capacity after back-off, 0.1-1
	ConnsCap    int       `json:"conns_cap"` // conns all leases may hold now; 0 = unlimited
	RateCap     int64     `json:"rate_cap"`  // bytes/s all leases may hold now; 0 = unlimited
	Conns       int       `json:"conns"`     // conns held by live leases
	Rate        int64     `json:"rate"`      // bytes/s held by live leases
	Spent       int64     `json:"spent"`     // bytes used in the current window
	Outstanding int64     `json:"outstanding"`
	WindowStart time.Time `json:"window_start"`
	WindowEnd   time.Time `json:"window_end"`
	Throttle    float64   `json:"throttle"` // 1, or less while the byte budget runs out
	Leases      []Lease   `json:"leases"`
	Waiting     []string  `json:"waiting"` // holders waiting for a share, longest first
	QuietUntil  time.Time `json:"quiet_until,omitzero"`
}

// Lease is a holder's right to use an origin until Expires: Conns requests in flight, Rate bytes/s
// and Bytes bytes until it renews. -1 means not capped.
type Lease struct {
	ID      string    `json:"id"`
	Origin  string    `json:"origin"`
	Holder  string    `json:"holder"`
	Relay   bool      `json:"relay,omitempty"`
	Conns   int       `json:"conns"`
	Rate    int64     `json:"rate"`
	Bytes   int64     `json:"bytes"`
	Expires time.Time `json:"expires"`
}

// LeaseRequest is the body of POST /v1/leases.
type LeaseRequest struct {
	Origin    string  `json:"origin"` // the source URL or its OriginKey
	Holder    string  `json:"holder"` // one lease per holder and origin
	Relay     bool    `json:"relay,omitempty"`
	Conns     int     `json:"conns,omitempty"` // wanted; 0 = as many as the share allows
	Rate      int64   `json:"rate,omitempty"`  // wanted bytes/s; 0 = as much as the share allows
	Bandwidth float64 `json:"bandwidth,omitempty"`
	Priority  float64 `json:"priority,omitempty"`
	History   float64 `json:"history,omitempty"`
}

// LeaseRenew is the body of POST /v1/leases/{id}/renew: the bytes used since the grant or the last
// renewal, and how the origin answered meanwhile.
type LeaseRenew struct {
	Used     int64          `json:"used"`
	Feedback OriginFeedback `json:"feedback"`
}

// OriginFeedback sums up the origin's answers to one holder since its last renewal.
type OriginFeedback struct {
	Answers   int   `json:"answers,omitempty"`    // answers of any kind
	Trouble   int   `json:"trouble,omitempty"`    // 429, 5xx or no answer at all
	Status    int   `json:"status,omitempty"`     // the last troubled status (0: no answer)
	LatencyMs int64 `json:"latency_ms,omitempty"` // mean time to headers of the good answers
}

// LeaseAnswer answers POST /v1/leases and its renewals. Without a grant, Reason says why (for people)
// and RetryMs when to ask again; Lost means the controller does not know the lease (expired, or the
// controller restarted): ask again with POST /v1/leases.
type LeaseAnswer struct {
	Granted bool   `json:"granted"`
	Lease   Lease  `json:"lease"`
	TTLMs   int64  `json:"ttl_ms"` // lease lifetime: holders count it from when they asked
	Reason  string `json:"reason,omitempty"`
	RetryMs int64  `json:"retry_ms,omitempty"`
	Lost    bool   `json:"lost,omitempty"`
}

// OriginKey names the origin of a source URL: lower-case scheme://host, with the port only when it
// is not the scheme's default. Policies and leases are per origin key.
func OriginKey(source string) (string, error) {
	s := strings.TrimSpace(source)
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("origin %q is not an http(s) URL: give one such as https://cdn.example.com", source)
	}
	scheme, host, port := strings.ToLower(u.Scheme), strings.ToLower(u.Hostname()), u.Port()
	if host == "" { // "http://:80" has a host part with no host in it
		return "", fmt.Errorf("origin %q names no host: give one such as https://cdn.example.com", source)
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "" && !(scheme == "http" && port == "80") && !(scheme == "https" && port == "443") {
		host += ":" + port
	}
	return scheme + "://" + host, nil
}
