// Package store holds the controller's durable state: hosts, distributions, assignments and events.
// The controller writes state here before it acts on it. Store has two implementations: SQLite
// (Open), the embedded default of one controller, and PostgreSQL (OpenPostgres), one database that
// several controllers share. OpenSpec picks one from a --store value. Both run the same numbered
// migrations (migrations/ and migrations/postgres/) at open and answer the same for every method:
// the suite in store_test.go runs each case on both.
package store

import (
	"context"
	"errors"
	"time"

	"dist/core/api"
)

// ErrNotFound is returned when the named row does not exist.
var ErrNotFound = errors.New("not found")

// ErrExists is returned when creating a row whose id is taken.
var ErrExists = errors.New("already exists")

// Event is one thing worth telling an operator: a state change, a failure, a relay replacement.
type Event struct {
	ID     int64     `json:"id"`
	At     time.Time `json:"at"`
	DistID string    `json:"dist_id,omitempty"`
	Host   string    `json:"host,omitempty"`
	Kind   string    `json:"kind"` // e.g. "created", "state", "failed", "metainfo"
	Msg    string    `json:"msg"`
}

// HostTask is one assignment of a host together with the distribution fields a task needs.
type HostTask struct {
	Assignment   api.Assignment
	Distribution api.Distribution // Metainfo filled when known (HostTasks), never (HostTaskHeads)
	HasMetainfo  bool             // the distribution has a metainfo
}

// HostReport is one host's report as of At, for ApplyReports.
type HostReport struct {
	Host  string
	Tasks []api.TaskReport
	At    time.Time
}

// Store is the controller's persistence. Every method is safe for concurrent use.
type Store interface {
	// UpsertHost inserts or updates a host by name (labels, roles, addresses, version) and sets
	// its last_seen to h.LastSeen.
	UpsertHost(ctx context.Context, h api.Host) error
	// UpsertHosts upserts many hosts as UpsertHost does, in one transaction: a fleet that
	// registers at once (a controller restarted) costs a commit per batch, not per host.
	UpsertHosts(ctx context.Context, hs []api.Host) error
	// TouchHost sets a host's last_seen. ErrNotFound if unknown.
	TouchHost(ctx context.Context, name string, at time.Time) error
	// TouchHosts sets the last_seen of many hosts in one transaction; unknown names are skipped
	// and a time older than the stored one is kept out.
	TouchHosts(ctx context.Context, seen map[string]time.Time) error
	// Host returns one host (Online is left false: liveness is the controller's judgement).
	Host(ctx context.Context, name string) (api.Host, error)
	// Hosts returns every host ordered by name.
	Hosts(ctx context.Context) ([]api.Host, error)

	// CreateDistribution writes the distribution, its metainfo (may be nil) and all its
	// assignments (relay and client) in one transaction. ErrExists if the id is taken.
	CreateDistribution(ctx context.Context, d api.Distribution, metainfo []byte, as []api.Assignment) error
	// Distributions returns every distribution, newest first, with the aggregate fields
	// (Targets, Done, Failed, Have, Bytes*) computed over client assignments; no Assignments, no Metainfo.
	Distributions(ctx context.Context) ([]api.Distribution, error)
	// DistributionHeads returns every distribution, newest first, without aggregates, assignments
	// or metainfo: one row each, whatever the fleet (what lists of states and ids need).
	DistributionHeads(ctx context.Context) ([]api.Distribution, error)
	// Distribution returns one distribution with aggregates, Assignments (relays first, then clients
	// by host name) and Metainfo. ErrNotFound if unknown.
	Distribution(ctx context.Context, id string) (api.Distribution, error)
	// SetMetainfo stores the metainfo and the fields derived from it. ErrNotFound if unknown.
	SetMetainfo(ctx context.Context, id string, metainfo []byte, infoHash string, pieceLen int64) error
	// SetDistributionState sets state (and ended_at when ended is not zero).
	SetDistributionState(ctx context.Context, id string, state api.DistState, ended time.Time) error

	// HostTasks returns the host's assignments of distributions that are pending or active, plus those
	// of distributions that ended as complete or partial less than keep ago (so hosts keep seeding a
	// while); cancelled and failed distributions are left out. Ordered by distribution creation.
	HostTasks(ctx context.Context, host string, now time.Time, keep time.Duration) ([]HostTask, error)
	// HostTaskHeads is HostTasks without reading the metainfo bytes (HasMetainfo says whether
	// there is one): what a watch answer needs.
	HostTaskHeads(ctx context.Context, host string, now time.Time, keep time.Duration) ([]HostTask, error)
	// Assignment returns one assignment by id. ErrNotFound if unknown.
	Assignment(ctx context.Context, id string) (api.Assignment, error)
	// Assignments returns every assignment of a distribution (relays first, then clients by host).
	Assignments(ctx context.Context, distID string) ([]api.Assignment, error)
	// ApplyReport updates the host's assignments named in the report (unknown ids are ignored):
	// state, counters, peers, error, updated_at=now; first_byte_at and done_at from the report's
	// unix-ms fields (set once, never cleared). Answers the ids whose state changed.
	ApplyReport(ctx context.Context, host string, r []api.TaskReport, now time.Time) (changed []string, err error)
	// ApplyReports applies many hosts' reports as ApplyReport does, in one transaction.
	ApplyReports(ctx context.Context, batch []HostReport) (changed []string, err error)

	// AddEvent appends an event.
	AddEvent(ctx context.Context, e Event) error
	// AddEvents appends events in one transaction: thousands of hosts that change mode at once
	// cost one commit, not one each.
	AddEvents(ctx context.Context, es []Event) error
	// Events returns the newest events, newest first; distID "" means all distributions.
	Events(ctx context.Context, distID string, limit int) ([]Event, error)

	// Lifecycle (lifecycle.go): deadlines, priorities, assignments added or ended later.
	Lifecycle
	// Samples (samples.go): progress samples for reports and the relay history.
	Samples

	Close() error
}
