package controller

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"dist/core/api"
	"dist/core/store"
)

// timedStore times every call of the Store interface, one transaction each, by operation. It
// sits under viewStore, so the writes viewStore makes are timed too.
type timedStore struct {
	store.Store
	ops *prometheus.HistogramVec
}

func (m *serverMetrics) timed(st store.Store) store.Store {
	return timedStore{Store: st, ops: m.storeOps}
}

// since observes the time of op from start; call it deferred.
func (t timedStore) since(op string, start time.Time) {
	t.ops.WithLabelValues(op).Observe(time.Since(start).Seconds())
}

func (t timedStore) UpsertHosts(ctx context.Context, hs []api.Host) error {
	defer t.since("upsert_hosts", time.Now())
	return t.Store.UpsertHosts(ctx, hs)
}

func (t timedStore) UpsertHost(ctx context.Context, h api.Host) error {
	defer t.since("upsert_host", time.Now())
	return t.Store.UpsertHost(ctx, h)
}

func (t timedStore) TouchHost(ctx context.Context, name string, at time.Time) error {
	defer t.since("touch_host", time.Now())
	return t.Store.TouchHost(ctx, name, at)
}

func (t timedStore) TouchHosts(ctx context.Context, seen map[string]time.Time) error {
	defer t.since("touch_hosts", time.Now())
	return t.Store.TouchHosts(ctx, seen)
}

func (t timedStore) Host(ctx context.Context, name string) (api.Host, error) {
	defer t.since("host", time.Now())
	return t.Store.Host(ctx, name)
}

func (t timedStore) Hosts(ctx context.Context) ([]api.Host, error) {
	defer t.since("hosts", time.Now())
	return t.Store.Hosts(ctx)
}

func (t timedStore) CreateDistribution(ctx context.Context, d api.Distribution, metainfo []byte, as []api.Assignment) error {
	defer t.since("create_distribution", time.Now())
	return t.Store.CreateDistribution(ctx, d, metainfo, as)
}

func (t timedStore) Distributions(ctx context.Context) ([]api.Distribution, error) {
	defer t.since("distributions", time.Now())
	return t.Store.Distributions(ctx)
}

func (t timedStore) DistributionHeads(ctx context.Context) ([]api.Distribution, error) {
	defer t.since("distribution_heads", time.Now())
	return t.Store.DistributionHeads(ctx)
}

func (t timedStore) Distribution(ctx context.Context, id string) (api.Distribution, error) {
	defer t.since("distribution", time.Now())
	return t.Store.Distribution(ctx, id)
}

func (t timedStore) SetMetainfo(ctx context.Context, id string, metainfo []byte, infoHash string, pieceLen int64) error {
	defer t.since("set_metainfo", time.Now())
	return t.Store.SetMetainfo(ctx, id, metainfo, infoHash, pieceLen)
}

func (t timedStore) SetDistributionState(ctx context.Context, id string, state api.DistState, ended time.Time) error {
	defer t.since("set_distribution_state", time.Now())
	return t.Store.SetDistributionState(ctx, id, state, ended)
}

func (t timedStore) HostTasks(ctx context.Context, host string, now time.Time, keep time.Duration) ([]store.HostTask, error) {
	defer t.since("host_tasks", time.Now())
	return t.Store.HostTasks(ctx, host, now, keep)
}

func (t timedStore) HostTaskHeads(ctx context.Context, host string, now time.Time, keep time.Duration) ([]store.HostTask, error) {
	defer t.since("host_task_heads", time.Now())
	return t.Store.HostTaskHeads(ctx, host, now, keep)
}

func (t timedStore) Assignment(ctx context.Context, id string) (api.Assignment, error) {
	defer t.since("assignment", time.Now())
	return t.Store.Assignment(ctx, id)
}

func (t timedStore) Assignments(ctx context.Context, distID string) ([]api.Assignment, error) {
	defer t.since("assignments", time.Now())
	return t.Store.Assignments(ctx, distID)
}

func (t timedStore) ApplyReport(ctx context.Context, host string, r []api.TaskReport, now time.Time) ([]string, error) {
	defer t.since("apply_report", time.Now())
	return t.Store.ApplyReport(ctx, host, r, now)
}

func (t timedStore) ApplyReports(ctx context.Context, batch []store.HostReport) ([]string, error) {
	defer t.since("apply_reports", time.Now())
	return t.Store.ApplyReports(ctx, batch)
}

func (t timedStore) AddEvent(ctx context.Context, e store.Event) error {
	defer t.since("add_event", time.Now())
	return t.Store.AddEvent(ctx, e)
}

func (t timedStore) AddEvents(ctx context.Context, es []store.Event) error {
	defer t.since("add_events", time.Now())
	return t.Store.AddEvents(ctx, es)
}

func (t timedStore) Events(ctx context.Context, distID string, limit int) ([]store.Event, error) {
	defer t.since("events", time.Now())
	return t.Store.Events(ctx, distID, limit)
}

func (t timedStore) SetLifecycle(ctx context.Context, id string, deadline time.Time, priority int) error {
	defer t.since("set_lifecycle", time.Now())
	return t.Store.SetLifecycle(ctx, id, deadline, priority)
}

func (t timedStore) Lifecycles(ctx context.Context) (map[string]store.DistLifecycle, error) {
	defer t.since("lifecycles", time.Now())
	return t.Store.Lifecycles(ctx)
}

func (t timedStore) AddAssignments(ctx context.Context, distID string, as []api.Assignment) ([]string, error) {
	defer t.since("add_assignments", time.Now())
	return t.Store.AddAssignments(ctx, distID, as)
}

func (t timedStore) EndAssignment(ctx context.Context, id string, state api.TaskState, errMsg string, at time.Time) (bool, error) {
	defer t.since("end_assignment", time.Now())
	return t.Store.EndAssignment(ctx, id, state, errMsg, at)
}

func (t timedStore) ReplaceRelay(ctx context.Context, distID, lost, reason, next string, at time.Time, ev store.Event) error {
	defer t.since("replace_relay", time.Now())
	return t.Store.ReplaceRelay(ctx, distID, lost, reason, next, at, ev)
}

func (t timedStore) ReopenAssignment(ctx context.Context, id string, at time.Time, ev store.Event) (bool, error) {
	defer t.since("reopen_assignment", time.Now())
	return t.Store.ReopenAssignment(ctx, id, at, ev)
}

func (t timedStore) AddSamples(ctx context.Context, ss []store.Sample) error {
	defer t.since("add_samples", time.Now())
	return t.Store.AddSamples(ctx, ss)
}

func (t timedStore) Samples(ctx context.Context, distID string) ([]store.Sample, error) {
	defer t.since("samples", time.Now())
	return t.Store.Samples(ctx, distID)
}

func (t timedStore) RelayRates(ctx context.Context, n int) ([]store.RelayRate, error) {
	defer t.since("relay_rates", time.Now())
	return t.Store.RelayRates(ctx, n)
}
