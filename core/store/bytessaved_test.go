package store

import (
	"context"
	"testing"
	"time"

	"dist/core/api"
)

// A report's bytes_zero and bytes_kept are kept with the assignment, and a distribution's base
// with the distribution, on every backend: they come back from every read that answers them.
func TestBytesSavedRoundTrip(t *testing.T) {
	t.Parallel()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s := openTest(t, b)
			now := time.UnixMilli(1_700_000_000_000).UTC()
			d := dist("d1", now, api.DistActive)
			d.Base = "/srv/images/old.img"
			mustCreate(t, s, d, nil, asg("d1", "c1", api.RoleClient, api.TaskPending))
			id := api.AssignmentID("d1", "c1", api.RoleClient)
			reports := []api.TaskReport{
				{ID: id, State: api.TaskDownloading, Have: 1 << 19, BytesBT: 1 << 10, BytesZero: 1 << 18, BytesKept: 1 << 17},
				{ID: id, State: api.TaskDone, Have: 1 << 20, BytesBT: 1 << 11, BytesZero: 1 << 19, BytesKept: 1 << 18},
			}
			for i, r := range reports {
				if _, err := s.ApplyReport(ctx, "c1", []api.TaskReport{r}, now.Add(time.Duration(i)*time.Second)); err != nil {
					t.Fatal(err)
				}
				got, err := s.Distribution(ctx, "d1")
				if err != nil {
					t.Fatal(err)
				}
				if got.Base != d.Base {
					t.Errorf("report %d: base %q, want %q", i, got.Base, d.Base)
				}
				if len(got.Assignments) != 1 {
					t.Fatalf("report %d: assignments %+v", i, got.Assignments)
				}
				if a := got.Assignments[0]; a.BytesZero != r.BytesZero || a.BytesKept != r.BytesKept || a.BytesBT != r.BytesBT {
					t.Errorf("report %d: zero %d, kept %d, bt %d; want %d, %d, %d", i, a.BytesZero, a.BytesKept, a.BytesBT, r.BytesZero, r.BytesKept, r.BytesBT)
				}
				a, err := s.Assignment(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				if a.BytesZero != r.BytesZero || a.BytesKept != r.BytesKept {
					t.Errorf("report %d: assignment by id: zero %d, kept %d; want %d, %d", i, a.BytesZero, a.BytesKept, r.BytesZero, r.BytesKept)
				}
			}
			ds, err := s.Distributions(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(ds) != 1 || ds[0].Base != d.Base {
				t.Errorf("distributions: %+v, want one with base %q", ds, d.Base)
			}
		})
	}
}
