package store

import (
	"context"
	"testing"
	"time"

	"dist/core/quota"
)

func testOriginsPersistAcrossReopen(t *testing.T, b backend) {
	ctx := context.Background()
	open := b.place(t)
	st := open(t)
	at := time.UnixMilli(1_700_000_000_000).UTC()
	lim := quota.Limits{MaxConns: 64, MaxRate: 125_000_000, MaxBytes: 2e12, Window: 24 * time.Hour}
	snap := quota.Snapshot{WindowStart: at.Truncate(24 * time.Hour), Spent: 12345, Factor: 0.5}
	if err := st.PutOriginSnapshot(ctx, "https://b.example", snap, at); err != nil {
		t.Fatal(err)
	}
	if err := st.PutOriginLimits(ctx, "https://a.example", lim, at); err != nil {
		t.Fatal(err)
	}
	// Limits and snapshot are written apart and neither overwrites the other.
	if err := st.PutOriginLimits(ctx, "https://b.example", lim, at); err != nil {
		t.Fatal(err)
	}
	if err := st.PutOriginSnapshot(ctx, "https://a.example", snap, at); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st = open(t)
	got, err := st.Origins(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Origin != "https://a.example" || got[1].Origin != "https://b.example" {
		t.Fatalf("origins after reopen: %+v", got)
	}
	for _, o := range got {
		if o.Limits != lim || o.Snapshot != snap || !o.UpdatedAt.Equal(at) {
			t.Errorf("origin %s after reopen: limits %+v snapshot %+v updated %v; want %+v %+v %v",
				o.Origin, o.Limits, o.Snapshot, o.UpdatedAt, lim, snap, at)
		}
	}
}
