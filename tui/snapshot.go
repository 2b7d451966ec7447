// Package tui is the dashboard of `dist top`: a Bubble Tea model over a view model of its own
// (Snapshot), filled from the controller API or the local daemon's LocalAPI by a Source. The views
// depend on the view model only, so they are golden-tested without a server.
package tui

import (
	"time"

	"dist/core/api"
)

// Snapshot is everything one frame of the dashboard shows. Its JSON form is what `dist top --json`
// prints: field names are stable, add fields, never rename them.
type Snapshot struct {
	At          time.Time `json:"at"`
	Controller  string    `json:"controller,omitempty"`
	Hosts       int       `json:"hosts"`        // hosts known to the controller
	HostsOnline int       `json:"hosts_online"` // of which online
	Dists       []Dist    `json:"distributions"`
	// Swarm is the selected distribution's swarm; nil until it is loaded.
	Swarm *Swarm `json:"swarm,omitempty"`
	// Limits are the origins' limits; LimitsKnown is false when the controller has none to show.
	Limits      []Limit `json:"limits"`
	LimitsKnown bool    `json:"limits_known"`
	Events      []Event `json:"events"`
	// Local is the local daemon's own view (dist top --host); the controller fields are empty then.
	Local *Local `json:"local,omitempty"`
	Err   string `json:"error,omitempty"` // the last refresh failed: shown, the old data stays
}

// Dist is one distribution's line.
type Dist struct {
	ID      string        `json:"id"`
	Name    string        `json:"name"`
	State   api.DistState `json:"state"`
	Size    int64         `json:"size"`
	Targets int           `json:"targets"`
	Done    int           `json:"done"`
	Failed  int           `json:"failed"`
	Have    int64         `json:"have"` // bytes held, summed over targets
	// Rate is bytes/s received by all targets together; ETA is -1 when unknown.
	Rate        float64       `json:"rate"`
	ETA         time.Duration `json:"eta_ns"`
	BytesBT     int64         `json:"bytes_bt"`
	BytesRelay  int64         `json:"bytes_http_relay"`
	BytesOrigin int64         `json:"bytes_http_origin"`
	Created     time.Time     `json:"created_at"`
	// Reason says why an active distribution is not moving (origin quota, metainfo, its hosts'
	// common stall); "" while it moves.
	Reason string `json:"reason,omitempty"`
}

// Progress is the fraction of all targets' bytes held, 0–1.
func (d Dist) Progress() float64 {
	total := d.Size * int64(d.Targets)
	if total <= 0 {
		return 0
	}
	return clamp01(float64(d.Have) / float64(total))
}

// Swarm is one distribution's hosts and relays.
type Swarm struct {
	Dist   Dist    `json:"distribution"`
	Hosts  []Host  `json:"hosts"`
	Relays []Relay `json:"relays"`
	Events []Event `json:"events"`
}

// Host is one client's part in a distribution (or one task of the local daemon).
type Host struct {
	Name     string        `json:"name"`
	Dist     string        `json:"dist_id,omitempty"` // local view: the distribution of the task
	Role     api.Role      `json:"role,omitempty"`    // local view: client or relay
	State    api.TaskState `json:"state"`
	Have     int64         `json:"have"`
	Size     int64         `json:"size"` // 0 when unknown
	RateBT   float64       `json:"rate_bt"`
	RateHTTP float64       `json:"rate_http"`
	Assist   string        `json:"assist,omitempty"`        // bt, assisting or http-main
	Reason   string        `json:"assist_reason,omitempty"` // why it is in that mode
	Cooldown time.Duration `json:"cooldown_ns,omitempty"`   // until the next switch may happen
	Peers    int           `json:"peers"`
	Error    string        `json:"error,omitempty"` // why it failed
	Stall    string        `json:"stall,omitempty"` // why it is not moving, while it is active
}

// Progress is the fraction of the file held, 0–1 (0 when the size is unknown).
func (h Host) Progress() float64 {
	if h.Size <= 0 {
		return 0
	}
	return clamp01(float64(h.Have) / float64(h.Size))
}

// Relay is one relay's part: pulling from the origin and serving clients.
type Relay struct {
	Name    string        `json:"name"`
	State   api.TaskState `json:"state"`
	Have    int64         `json:"have"`
	Size    int64         `json:"size"`
	Rate    float64       `json:"rate"` // pull rate, bytes/s
	Up      int64         `json:"bytes_up"`
	Clients int           `json:"clients"`         // clients it serves now
	Error   string        `json:"error,omitempty"` // why it failed
	Stall   string        `json:"stall,omitempty"` // why it is not moving, while it is active
}

// Progress is the fraction of the file pulled, 0–1.
func (r Relay) Progress() float64 {
	if r.Size <= 0 {
		return 0
	}
	return clamp01(float64(r.Have) / float64(r.Size))
}

// Limit units.
const (
	UnitConns = "conns"
	UnitRate  = "B/s"
	UnitBytes = "B"
)

// Limit is one origin limit: what is in use against its cap.
type Limit struct {
	Origin string  `json:"origin"`
	Name   string  `json:"name"` // connections, bandwidth, bytes
	Unit   string  `json:"unit"` // see the Unit constants
	Used   float64 `json:"used"`
	Cap    float64 `json:"cap"`              // 0: no cap
	Window string  `json:"window,omitempty"` // for bytes: the budget's window, e.g. "24h"
	// Measured is, for bandwidth, the rate the hosts report taking from the origin (bytes/s,
	// from the bytes they account for on their leases); Used is the rate leases hold, which is 0
	// without a cap. -1: not known yet (one reading).
	Measured float64 `json:"measured,omitempty"`
}

// Fraction is Used/Cap, 0–1 (0 without a cap).
func (l Limit) Fraction() float64 {
	if l.Cap <= 0 {
		return 0
	}
	return clamp01(l.Used / l.Cap)
}

// Event is one line of the recent-events pane.
type Event struct {
	At   time.Time `json:"at"`
	Dist string    `json:"dist_id,omitempty"`
	Host string    `json:"host,omitempty"`
	Kind string    `json:"kind"`
	Msg  string    `json:"msg"`
}

// Local is the local daemon's view of itself.
type Local struct {
	Name       string     `json:"name"`
	Roles      []api.Role `json:"roles"`
	Controller string     `json:"controller,omitempty"`
	Tasks      []Host     `json:"tasks"`
}

func clamp01(f float64) float64 { return max(0, min(1, f)) }
