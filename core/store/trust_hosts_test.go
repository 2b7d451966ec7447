package store

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// The host trust cases, run on both stores (TestHostTrust below).
var hostTrustCases = []struct {
	name string
	run  func(t *testing.T, b backend)
}{
	{"ApprovalsAndRevocationsPersist", testApprovalsAndRevocationsPersist},
	{"KeepCAFirstWriterWins", testKeepCAFirstWriterWins},
}

// TestHostTrust runs the host trust cases against every backend, as TestStore does.
func TestHostTrust(t *testing.T) {
	t.Parallel()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			for _, c := range hostTrustCases {
				t.Run(c.name, func(t *testing.T) {
					t.Parallel()
					c.run(t, b)
				})
			}
		})
	}
}

func trustOf(t *testing.T, st testStore) HostTrustStore {
	t.Helper()
	hs, ok := any(st).(HostTrustStore)
	if !ok {
		t.Fatalf("%T keeps no host trust", st)
	}
	return hs
}

func testApprovalsAndRevocationsPersist(t *testing.T, b backend) {
	ctx := context.Background()
	open := b.place(t)
	st := trustOf(t, open(t))
	at := time.UnixMilli(1_700_000_000_000).UTC()
	e0, err := st.TrustEpoch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []HostApproval{
		{Name: "c2", State: ApprovalPending, At: at},
		{Name: "c1", State: ApprovalPending, At: at},
		{Name: "c1", State: ApprovalApproved, At: at.Add(time.Second), By: "admin"}, // replaces
	} {
		if err := st.SetApproval(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	revs := []Revocation{{Host: "c2", Serial: "ab12", At: at, By: "ops"}, {Host: "c2", At: at, By: "ops"}}
	if err := st.AddRevocations(ctx, revs); err != nil {
		t.Fatal(err)
	}
	e1, err := st.TrustEpoch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if e1 != e0+4 {
		t.Fatalf("trust epoch went %d → %d over 4 changes, want +4", e0, e1)
	}
	st = trustOf(t, open(t)) // what a restarted controller, or another one, reads
	as, err := st.Approvals(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []HostApproval{{Name: "c1", State: ApprovalApproved, At: at.Add(time.Second), By: "admin"}, {Name: "c2", State: ApprovalPending, At: at}}
	if len(as) != 2 || as[0] != want[0] || as[1] != want[1] {
		t.Fatalf("approvals after reopen: %+v, want %+v", as, want)
	}
	rs, err := st.Revocations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 || rs[0] != revs[0] || rs[1] != revs[1] {
		t.Fatalf("revocations after reopen: %+v, want %+v", rs, revs)
	}
	if e, err := st.TrustEpoch(ctx); err != nil || e != e1 {
		t.Fatalf("trust epoch after reopen: %d, %v; want %d", e, err, e1)
	}
}

func testKeepCAFirstWriterWins(t *testing.T, b backend) {
	ctx := context.Background()
	st := trustOf(t, b.place(t)(t))
	if _, _, err := st.StoredCA(ctx); !errors.Is(err, ErrNotFound) {
		t.Fatalf("stored ca of an empty database: %v, want ErrNotFound", err)
	}
	// Controllers starting at once: every one gets the same CA back, one of those offered.
	const n = 4
	got := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			c, k, err := st.KeepCA(ctx, []byte{'c', byte('0' + i)}, []byte{'k', byte('0' + i)}, time.Now())
			if err != nil {
				t.Error(err)
				return
			}
			if c[1] != k[1] {
				t.Errorf("kept certificate %q with key %q of another writer", c, k)
			}
			got[i] = string(c)
		})
	}
	wg.Wait()
	for i := range n {
		if got[i] != got[0] {
			t.Fatalf("writers got different CAs: %q", got)
		}
	}
	c, _, err := st.StoredCA(ctx)
	if err != nil || string(c) != got[0] {
		t.Fatalf("stored ca %q, %v; want %q", c, err, got[0])
	}
}
