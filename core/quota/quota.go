package quota

import (
	"errors"
	"fmt"
	"time"
)

// Unlimited marks a lease field that is not capped.
const Unlimited = -1

// Defaults.
const (
	DefaultTTL     = 30 * time.Second // lease lifetime; holders renew at about half of it
	DefaultWindow  = 24 * time.Hour   // byte-budget window when Limits.Window is 0
	DefaultReserve = 0.05             // share of conns and rate kept out of targets for newcomers
	DefaultConns   = 4                // conns granted when neither the origin nor the holder caps them
)

// Back-off and throttling constants.
const (
	decreaseFactor    = 0.5                   // capacity factor × this on trouble
	minFactor         = 0.1                   // floor of the capacity factor
	increaseStep      = 0.1                   // capacity factor + this per lease period without trouble
	throttleFrom      = 0.90                  // rates scale down once this share of the byte budget is committed…
	throttleFloor     = 0.10                  // …but not below this share of the rate, so the rest is used up in finite time
	slowLatencyFactor = 2.0                   // a latency this many times the usual counts as trouble…
	slowLatencyMin    = 50 * time.Millisecond // …when it is also at least this much above it
	latencyWarmup     = 8                     // answers needed before latency judges anything
	latencyAlpha      = 0.05                  // weight of one answer in the usual latency
)

// Limits are an origin's global caps. A zero field means unlimited, except Window.
type Limits struct {
	MaxConns int           // concurrent connections to the origin
	MaxRate  int64         // bytes/s
	MaxBytes int64         // bytes per Window
	Window   time.Duration // byte-budget window; 0 means DefaultWindow
}

// Validate rejects negative limits.
func (l Limits) Validate() error {
	switch {
	case l.MaxConns < 0:
		return fmt.Errorf("max conns %d is negative", l.MaxConns)
	case l.MaxRate < 0:
		return fmt.Errorf("max rate %d is negative", l.MaxRate)
	case l.MaxBytes < 0:
		return fmt.Errorf("max bytes %d is negative", l.MaxBytes)
	case l.Window < 0:
		return errors.New("window is negative")
	case l.Window > 0 && l.Window < time.Minute:
		return fmt.Errorf("window %s is shorter than a minute", l.Window)
	}
	return nil
}

func (l Limits) window() time.Duration {
	if l.Window <= 0 {
		return DefaultWindow
	}
	return l.Window
}

// Lease is a holder's right to use the origin until Expires.
type Lease struct {
	ID      string    `json:"id"`
	Holder  string    `json:"holder"`
	Relay   bool      `json:"relay,omitempty"`
	Conns   int       `json:"conns"`   // concurrent connections
	Rate    int64     `json:"rate"`    // bytes/s; Unlimited when not capped
	Bytes   int64     `json:"bytes"`   // bytes allowed until the next renewal; Unlimited when not capped
	Expires time.Time `json:"expires"` // the lease is void from this instant
}

// Request asks for a lease.
type Request struct {
	Holder    string  // host (or host/distribution) name; one lease per holder
	Relay     bool    // relays are served before clients
	Conns     int     // connections wanted; 0 = as many as the share allows
	Rate      int64   // bytes/s wanted; 0 = as much as the share allows
	Bandwidth float64 // factor for the host's link; 0 means 1
	Priority  float64 // factor for the distribution's priority; 0 means 1
	History   float64 // factor for the host's track record; 0 means 1
}

// weight is the holder's base × bandwidth × priority × history; the base is 1 for everyone,
// because relays are already served first.
func (r Request) weight() float64 {
	f := func(x float64) float64 {
		if x <= 0 {
			return 1
		}
		return x
	}
	return f(r.Bandwidth) * f(r.Priority) * f(r.History)
}

// State is a snapshot of an allocator for display.
type State struct {
	At          time.Time `json:"at"`
	Limits      Limits    `json:"limits"`
	Factor      float64   `json:"factor"`       // capacity factor after back-off, 0.1–1
	ConnsCap    int       `json:"conns_cap"`    // conns all leases may hold now; 0 = unlimited
	RateCap     int64     `json:"rate_cap"`     // bytes/s all leases may hold now; 0 = unlimited
	Conns       int       `json:"conns"`        // conns held by live leases
	Rate        int64     `json:"rate"`         // bytes/s held by live leases with a rate cap
	Spent       int64     `json:"spent"`        // bytes used in the current window
	Outstanding int64     `json:"outstanding"`  // bytes granted and not yet reported
	WindowStart time.Time `json:"window_start"` // current byte window
	WindowEnd   time.Time `json:"window_end"`
	Throttle    float64   `json:"throttle"`             // 1, or less while the byte budget runs out
	QuietUntil  time.Time `json:"quiet_until,omitzero"` // no grants before this, after a restore
	Leases      []Lease   `json:"leases"`               // by holder
	Waiting     []string  `json:"waiting"`              // holders waiting for a share, longest first
}

// Snapshot is what a controller persists so that a restart does not forget spent bytes.
type Snapshot struct {
	WindowStart time.Time `json:"window_start"`
	Spent       int64     `json:"spent"`  // used plus granted-but-unreported bytes in the window
	Factor      float64   `json:"factor"` // capacity factor after back-off
}
