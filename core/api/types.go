// Package api holds the wire types of the controller API (/v1/) and the LocalAPI, and their clients.
// Field names are part of the documented JSON output of the CLI: add fields, never rename them.
package api

import "time"

// Byte sources, as counted by clients.
const (
	SourceBT         = "bt"
	SourceHTTPRelay  = "http-relay"
	SourceHTTPOrigin = "http-origin"
	// SourceHTTPPeer is another client over HTTP (the early exchange, before the metainfo): its
	// bytes are counted with bt's, the swarm's, and timed apart.
	SourceHTTPPeer = "http-peer"
)

// Host is a daemon known to the controller.
type Host struct {
	Name     string            `json:"name"`
	Labels   map[string]string `json:"labels,omitempty"`
	Roles    []Role            `json:"roles"`
	HTTPURL  string            `json:"http_url,omitempty"` // base URL of the daemon's HTTP server
	BTAddr   string            `json:"bt_addr,omitempty"`  // host:port of its BitTorrent listener
	Version  string            `json:"version,omitempty"`
	LastSeen time.Time         `json:"last_seen"`
	Online   bool              `json:"online"`
	// Access is "" for a host that may take part, else why not: "pending" (waits for an
	// operator's approval), "denied" or "revoked". Set by the controller, ignored when sent.
	Access string `json:"access,omitempty"`
}

// HasRole reports whether h holds role r.
func (h Host) HasRole(r Role) bool {
	for _, x := range h.Roles {
		if x == r {
			return true
		}
	}
	return false
}

// CreateDistribution is the body of POST /v1/distributions.
type CreateDistribution struct {
	Source    string    `json:"source"`              // http(s) URL the file is fetched from (the origin)
	Name      string    `json:"name,omitempty"`      // file name on targets; default: last path element of Source
	To        []string  `json:"to"`                  // selectors: host name, label=value, or "all"
	Dest      string    `json:"dest,omitempty"`      // path on targets; default: <data>/files/<name>
	Relays    int       `json:"relays,omitempty"`    // number of relays; 0 = automatic (1–5 % of targets, at least 1)
	Metainfo  []byte    `json:"metainfo,omitempty"`  // bencoded .torrent when the publisher already hashed the file
	SHA256    string    `json:"sha256,omitempty"`    // optional whole-file checksum, hex
	Publisher string    `json:"publisher,omitempty"` // host that published a local file and seeds it
	PieceLen  int64     `json:"piece_length,omitempty"`
	Settings  *Settings `json:"settings,omitempty"` // hybrid download settings; nil: each host's defaults
	Deadline  time.Time `json:"deadline,omitzero"`  // unfinished targets fail then; the distribution ends partial
	Priority  int       `json:"priority,omitempty"` // higher goes first (relay choice, upkeep); default 0
	// Base is an older version of the file at another absolute path on each target: the pieces
	// it already holds are kept, read-only, and only the others fetched. Empty: Dest itself.
	Base string `json:"base,omitempty"`
}

// Distribution is one file on its way to a set of hosts.
type Distribution struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	Source      string    `json:"source"`
	Size        int64     `json:"size"`
	PieceLength int64     `json:"piece_length,omitempty"`
	InfoHash    string    `json:"info_hash,omitempty"`
	SHA256      string    `json:"sha256,omitempty"`
	Dest        string    `json:"dest,omitempty"`
	Base        string    `json:"base,omitempty"` // older version elsewhere on targets (push --base)
	Publisher   string    `json:"publisher,omitempty"`
	State       DistState `json:"state"`
	Selectors   []string  `json:"selectors"`
	CreatedAt   time.Time `json:"created_at"`
	EndedAt     time.Time `json:"ended_at,omitzero"`
	// Counts over client assignments.
	Targets int `json:"targets"`
	Done    int `json:"done"`
	Failed  int `json:"failed"`
	// Bytes by source summed over client assignments, and bytes held.
	Have            int64 `json:"have"`
	BytesBT         int64 `json:"bytes_bt"`
	BytesHTTPRelay  int64 `json:"bytes_http_relay"`
	BytesHTTPOrigin int64 `json:"bytes_http_origin"`
	// Filled by GET /v1/distributions/{id} only.
	Assignments []Assignment `json:"assignments,omitempty"`
	Metainfo    []byte       `json:"metainfo,omitempty"`
	Settings    *Settings    `json:"settings,omitempty"`
	Deadline    time.Time    `json:"deadline,omitzero"`
	Priority    int          `json:"priority,omitempty"`
}

// Assignment is one host's part in a distribution: a client download or a relay task.
type Assignment struct {
	ID              string    `json:"id"` // "<dist>/<host>/<role>"
	DistID          string    `json:"dist_id"`
	Host            string    `json:"host"`
	Role            Role      `json:"role"` // relay or client
	State           TaskState `json:"state"`
	Have            int64     `json:"have"`
	BytesBT         int64     `json:"bytes_bt"`
	BytesHTTPRelay  int64     `json:"bytes_http_relay"`
	BytesHTTPOrigin int64     `json:"bytes_http_origin"`
	BytesZero       int64     `json:"bytes_zero,omitempty"` // all-zero pieces written here, not fetched
	BytesKept       int64     `json:"bytes_kept,omitempty"` // pieces kept from the older version at the destination
	BytesUp         int64     `json:"bytes_up"`
	Peers           int       `json:"peers"`
	Error           string    `json:"error,omitempty"`
	FirstByteAt     time.Time `json:"first_byte_at,omitzero"`
	DoneAt          time.Time `json:"done_at,omitzero"`
	UpdatedAt       time.Time `json:"updated_at,omitzero"`
	Mode            string    `json:"mode,omitempty"`        // client: bt, assisting or http-main
	ModeReason      string    `json:"mode_reason,omitempty"` // why the client is in Mode
	ModeAt          time.Time `json:"mode_at,omitzero"`      // when the client last changed mode
}

// Task is what a host is asked to do, delivered over its watch stream. Idempotent by ID.
type Task struct {
	ID       string    `json:"id"`
	DistID   string    `json:"dist_id"`
	Role     Role      `json:"role"` // relay or client
	Name     string    `json:"name"`
	Source   string    `json:"source"`
	Size     int64     `json:"size"`
	PieceLen int64     `json:"piece_length,omitempty"`
	Dest     string    `json:"dest,omitempty"`
	Base     string    `json:"base,omitempty"` // older version to keep pieces from, read-only; empty: Dest
	SHA256   string    `json:"sha256,omitempty"`
	Metainfo []byte    `json:"metainfo,omitempty"` // empty until known (a relay hashing a URL source publishes it)
	Cancel   bool      `json:"cancel,omitempty"`   // stop and clean up
	Settings *Settings `json:"settings,omitempty"` // the push's hybrid settings; nil: the host's defaults

	// MetainfoSHA256 names the metainfo by the SHA-256 of its bytes once it is known. The watch
	// sends this instead of the bytes: a host fetches them once (Client.Metainfo) and keeps them.
	MetainfoSHA256 string `json:"metainfo_sha256,omitempty"`
}

// Watch is the answer of GET /v1/watch: the full set of the host's live tasks (level-triggered, so a
// missed answer loses nothing). Version changes whenever any of them may have changed.
type Watch struct {
	Version string `json:"version"`
	Tasks   []Task `json:"tasks"`
	// ReportEveryMs is how often the controller wants a host with tasks to report progress; a
	// task's state change is reported at once whatever it says. 0: the host's default.
	ReportEveryMs int64 `json:"report_every_ms,omitempty"`
	// PeersEveryMs is how often a task asks the tracker for peers once its swarm has formed (a
	// tracker's interval): longer in a bigger fleet. 0: the host's default.
	PeersEveryMs int64 `json:"peers_every_ms,omitempty"`
	// IdleEveryMs is how often a host without tasks sends its heartbeat. A held watch keeps a
	// host online by itself, so a big fleet's idle hosts are asked for it rarely. 0: the host's
	// default.
	IdleEveryMs int64 `json:"idle_every_ms,omitempty"`
}

// Report is the body of POST /v1/report: the state of every task of one host.
type Report struct {
	Host  string       `json:"host"`
	Tasks []TaskReport `json:"tasks"`
}

// TaskReport is one task's progress. Byte counters are totals since the task started, not deltas.
type TaskReport struct {
	ID              string    `json:"id"`
	State           TaskState `json:"state"`
	Have            int64     `json:"have"`
	BytesBT         int64     `json:"bytes_bt"`
	BytesHTTPRelay  int64     `json:"bytes_http_relay"`
	BytesHTTPOrigin int64     `json:"bytes_http_origin"`
	BytesZero       int64     `json:"bytes_zero,omitempty"` // all-zero pieces written here, not fetched
	BytesKept       int64     `json:"bytes_kept,omitempty"` // pieces kept from the older version at the destination
	BytesUp         int64     `json:"bytes_up"`
	Peers           int       `json:"peers"`
	FirstByteMs     int64     `json:"first_byte_ms,omitempty"` // unix ms of the first byte received
	DoneMs          int64     `json:"done_ms,omitempty"`       // unix ms when the file was in place and verified
	Error           string    `json:"error,omitempty"`
	ErrorCode       string    `json:"error_code,omitempty"`  // classifies Error; CodeSourceFinal: the origin's answer is final
	Mode            string    `json:"mode,omitempty"`        // client: bt, assisting or http-main
	ModeReason      string    `json:"mode_reason,omitempty"` // why the client is in Mode
	// ModeChanges lists the latest mode changes; each is repeated in a few reports so that a lost
	// report loses none. The controller keeps each once, as an event.
	ModeChanges []ModeChange `json:"mode_changes,omitempty"`
}

// ModeChange is one switch of a client's hybrid download between bt, assisting and http-main.
type ModeChange struct {
	AtMs   int64  `json:"at_ms"` // unix ms
	From   string `json:"from"`
	To     string `json:"to"`
	Reason string `json:"reason"`
}

// Peer is one swarm member handed out by the controller's tracker.
type Peer struct {
	Host     string `json:"host"`
	BTAddr   string `json:"bt_addr"`
	HTTPURL  string `json:"http_url,omitempty"` // content at HTTPURL + ContentPath(dist)
	Relay    bool   `json:"relay,omitempty"`
	Complete bool   `json:"complete,omitempty"`
}

// Peers is the answer of GET /v1/distributions/{id}/peers.
type Peers struct {
	Peers []Peer `json:"peers"`
}

// Publish is the LocalAPI request to publish a local file: the daemon hashes it, serves it over HTTP
// and BitTorrent, and answers with what a push needs.
type Publish struct {
	Path     string `json:"path"`
	PieceLen int64  `json:"piece_length,omitempty"`
}

// Published is the LocalAPI answer to Publish.
type Published struct {
	Host     string `json:"host"`
	Source   string `json:"source"` // URL where the daemon serves the file
	Name     string `json:"name"`
	Size     int64  `json:"size"`
	InfoHash string `json:"info_hash"`
	Metainfo []byte `json:"metainfo"`
	SHA256   string `json:"sha256"`
}

// Status is the LocalAPI answer of GET /v1/status: the daemon's own view.
type Status struct {
	Name       string       `json:"name"`
	Roles      []Role       `json:"roles"`
	HTTPURL    string       `json:"http_url"`
	BTAddr     string       `json:"bt_addr"`
	Controller string       `json:"controller,omitempty"`
	Tasks      []TaskReport `json:"tasks"`
}

// Error is the JSON body of every non-2xx answer.
type Error struct {
	Error string `json:"error"`
	Code  string `json:"code"` // stable machine code, see the Code* constants
}

// Stable error codes carried in Error.Code.
const (
	CodeBadRequest   = "bad_request"
	CodeUnauthorized = "unauthorized"
	CodeNotFound     = "not_found"
	CodeNoTargets    = "no_targets" // no host matches the selectors
	CodeNoRelay      = "no_relay"   // a URL source needs a relay and none is online
	CodeSource       = "source"     // the origin is unreachable, answers an error, or has no Range support
	CodeConflict     = "conflict"
	CodeInternal     = "internal"
	// CodeSourceFinal, in a TaskReport's ErrorCode, says the origin's answer is final (404/410, the
	// file or its size changed): retrying or another relay cannot help, the distribution fails.
	CodeSourceFinal = "source_final"
	// CodeOverloaded comes with 429 and a Retry-After: the controller sheds load; ask again then.
	CodeOverloaded = "overloaded"
)

// ContentPath is where a daemon serves a distribution's bytes over HTTP (Range supported).
func ContentPath(distID string) string { return "/v1/content/" + distID }
