package api

import "time"

// DistReport is the answer of GET /v1/distributions/{id}/report: what happened in one
// distribution, in figures. Durations are milliseconds from the distribution's creation, rates
// bytes/s. Bytes by source are summed over client assignments; OriginBytes adds what relays pulled.
type DistReport struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	State     DistState `json:"state"`
	Size      int64     `json:"size"`
	CreatedAt time.Time `json:"created_at"`
	EndedAt   time.Time `json:"ended_at,omitzero"`
	Deadline  time.Time `json:"deadline,omitzero"`
	Priority  int       `json:"priority,omitempty"`
	ElapsedMs int64     `json:"elapsed_ms"` // to EndedAt, or to now while running

	Targets  int     `json:"targets"`
	Done     int     `json:"done"`
	Failed   int     `json:"failed"`
	Progress float64 `json:"progress"` // bytes held over size × targets, 0–1

	// Completion and time to first byte over the clients that got there.
	Completion      Percentiles `json:"completion_ms"`
	TimeToFirstByte Percentiles `json:"first_byte_ms"`

	AvgSpeed   int64 `json:"avg_speed"`   // mean over clients of bytes held / download time
	TotalSpeed int64 `json:"total_speed"` // bytes held by all clients / elapsed time

	Bytes         BytesBySource `json:"bytes"`           // client bytes by source
	RelayOrigin   int64         `json:"relay_origin"`    // bytes relays pulled from the origin
	OriginBytes   int64         `json:"origin_bytes"`    // relays' pulls + clients' http-origin bytes
	OriginPerFile float64       `json:"origin_per_file"` // OriginBytes / Size: how many copies the origin sent

	AssistSwitches int `json:"assist_switches"` // hybrid mode changes of clients
	Samples        int `json:"samples"`         // progress samples kept for this distribution

	Sites    []SiteReport    `json:"sites"`
	Hosts    []HostReport    `json:"hosts"`
	Relays   []string        `json:"relays"`
	Failures []FailureReport `json:"failures"`
}

// Percentiles of a set of durations in milliseconds; N is how many there were (0: the rest is 0).
type Percentiles struct {
	N   int   `json:"n"`
	P50 int64 `json:"p50"`
	P90 int64 `json:"p90"`
	P99 int64 `json:"p99"`
	Max int64 `json:"max"`
}

// BytesBySource splits bytes by where they came from.
type BytesBySource struct {
	BT         int64 `json:"bt"`
	HTTPRelay  int64 `json:"http_relay"`
	HTTPOrigin int64 `json:"http_origin"`
	// Zero is the bytes of all-zero pieces the targets wrote themselves: they crossed no
	// network, and Total leaves them out.
	Zero int64 `json:"zero,omitempty"`
	// Kept is the bytes of pieces the targets kept from the older version at the destination
	// (a delta update); they crossed no network either.
	Kept int64 `json:"kept,omitempty"`
}

// Total is the sum over sources that crossed the network.
func (b BytesBySource) Total() int64 { return b.BT + b.HTTPRelay + b.HTTPOrigin }

// SiteReport is the figures of the clients of one site ("" for hosts without a site label).
type SiteReport struct {
	Site       string        `json:"site"`
	Targets    int           `json:"targets"`
	Done       int           `json:"done"`
	Failed     int           `json:"failed"`
	AvgSpeed   int64         `json:"avg_speed"`
	Completion Percentiles   `json:"completion_ms"`
	Bytes      BytesBySource `json:"bytes"`
}

// HostReport is one client's figures.
type HostReport struct {
	Host        string        `json:"host"`
	Site        string        `json:"site,omitempty"`
	State       TaskState     `json:"state"`
	Have        int64         `json:"have"`
	FirstByteMs int64         `json:"first_byte_ms,omitempty"` // from creation; 0: none yet
	DoneMs      int64         `json:"done_ms,omitempty"`       // from creation; 0: not done
	Speed       int64         `json:"speed"`                   // bytes/s over its download
	Bytes       BytesBySource `json:"bytes"`
	Switches    int           `json:"assist_switches"`
	Error       string        `json:"error,omitempty"`
}

// FailureReport is one failed assignment and why.
type FailureReport struct {
	Host   string    `json:"host"`
	Role   Role      `json:"role"`
	Reason string    `json:"reason"`
	At     time.Time `json:"at,omitzero"`
}
