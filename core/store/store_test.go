package store

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"dist/core/api"
	"dist/core/store/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// testStore is what both implementations offer and the suite checks.
type testStore interface {
	Store
	OriginStore
	TrustStore
}

// backend is one implementation of Store under test. place makes a new, empty database and answers
// a function that opens it (again): the first call sees it empty, a later one what the store left
// there after Close. Each store opened is closed when its test ends.
type backend struct {
	name  string
	place func(t *testing.T) func(t *testing.T) testStore
}

var backends = []backend{
	{name: "sqlite", place: func(t *testing.T) func(t *testing.T) testStore {
		p := filepath.Join(t.TempDir(), "state", "dist.db")
		return func(t *testing.T) testStore {
			t.Helper()
			s, err := Open(p)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}
	}},
	{name: "postgres", place: func(t *testing.T) func(t *testing.T) testStore {
		dsn := pgtest.DSN(t)
		return func(t *testing.T) testStore {
			t.Helper()
			s, err := OpenPostgres(context.Background(), dsn)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}
	}},
}

// storeCases is the store suite: every case runs against every backend.
var storeCases = []struct {
	name string
	run  func(t *testing.T, b backend)
}{
	{"CreateDistributionAtomic", testCreateDistributionAtomic},
	{"CreateDistributionDefaults", testCreateDistributionDefaults},
	{"NotFoundAndExists", testNotFoundAndExists},
	{"Hosts", testHosts},
	{"Aggregates", testAggregates},
	{"SetMetainfoAndState", testSetMetainfoAndState},
	{"ApplyReport", testApplyReport},
	{"HostTasks", testHostTasks},
	{"Events", testEvents},
	{"Durability", testDurability},
	{"ConcurrentReportsAndReads", testConcurrentReportsAndReads},
	{"ReportDoesNotReopenFailedTask", testReportDoesNotReopenFailedTask},
	{"TouchHostsOneTransaction", testTouchHostsOneTransaction},
	{"AssignmentByID", testAssignmentByID},
	{"ApplyReportsOneTransaction", testApplyReportsOneTransaction},
	{"AddEventsInOrder", testAddEventsInOrder},
	{"UpsertHostsOneTransaction", testUpsertHostsOneTransaction},
	{"HostTaskHeadsLeaveMetainfoOut", testHostTaskHeadsLeaveMetainfoOut},
	{"ConcurrentBatchesShareStatements", testConcurrentBatchesShareStatements},
	{"LifecycleRoundTrip", testLifecycleRoundTrip},
	{"AddAndEndAssignments", testAddAndEndAssignments},
	{"ReplaceRelay", testReplaceRelay},
	{"ReopenAssignment", testReopenAssignment},
	{"Samples", testSamples},
	{"RelayRates", testRelayRates},
	{"OriginsPersistAcrossReopen", testOriginsPersistAcrossReopen},
	{"TokensPersistAndDelete", testTokensPersistAndDelete},
	{"AuditNewestFirst", testAuditNewestFirst},
}

// TestStore runs the store suite on SQLite and on PostgreSQL (skipped, saying why, without one).
func TestStore(t *testing.T) {
	t.Parallel()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			for _, c := range storeCases {
				t.Run(c.name, func(t *testing.T) {
					t.Parallel()
					c.run(t, b)
				})
			}
		})
	}
}

// BenchmarkApplyReports measures one second's worth of a 500-host fleet's progress: one batch of
// 500 reports, then their heartbeats, on each backend.
func BenchmarkApplyReports(b *testing.B) {
	const hosts = 500
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			s := benchStore(b, be)
			ctx := context.Background()
			var as []api.Assignment
			for i := range hosts {
				as = append(as, asg("d1", fmt.Sprintf("h%03d", i), api.RoleClient, api.TaskPending))
			}
			if err := s.CreateDistribution(ctx, dist("d1", t0, api.DistActive), nil, as); err != nil {
				b.Fatal(err)
			}
			for i := range hosts {
				if err := s.UpsertHost(ctx, api.Host{Name: fmt.Sprintf("h%03d", i)}); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			for n := range b.N {
				batch := make([]HostReport, hosts)
				seen := make(map[string]time.Time, hosts)
				for i := range hosts {
					name := fmt.Sprintf("h%03d", i)
					at := t0.Add(time.Duration(n) * time.Second)
					batch[i] = HostReport{Host: name, At: at, Tasks: []api.TaskReport{{
						ID: api.AssignmentID("d1", name, api.RoleClient), State: api.TaskDownloading, Have: int64(n)}}}
					seen[name] = at
				}
				if _, err := s.ApplyReports(ctx, batch); err != nil {
					b.Fatal(err)
				}
				if err := s.TouchHosts(ctx, seen); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// benchStore opens a fresh store of be for a benchmark.
func benchStore(b *testing.B, be backend) Store {
	b.Helper()
	var s Store
	var err error
	switch be.name {
	case "sqlite":
		s, err = Open(filepath.Join(b.TempDir(), "dist.db"))
	default:
		s, err = OpenPostgres(context.Background(), pgtest.DSN(b))
	}
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}
