package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"dist/core/quota"
	"dist/core/store/pgtest"
)

// UpdateOrigin serialises read-change-write of one origin across stores (as across controllers):
// concurrent increments through two pools lose none. A refused change writes nothing, not even
// the row it created, and fn's error comes back as is.
func TestPostgresUpdateOrigin(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	var stores []*Postgres
	for range 2 {
		p, err := OpenPostgres(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		stores = append(stores, p)
	}
	t0 := time.UnixMilli(1_700_000_000_000).UTC()
	const key, workers, each = "https://o.example", 6, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for range each {
				err := stores[w%2].UpdateOrigin(ctx, key, t0, func(st *OriginState) (bool, error) {
					n, _ := strconv.Atoi(string(st.State))
					st.State = []byte(strconv.Itoa(n + 1))
					st.Limits.MaxConns = 6
					return true, nil
				})
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got, err := stores[1].OriginStates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || string(got[0].State) != strconv.Itoa(workers*each) || got[0].Limits.MaxConns != 6 {
		t.Fatalf("after %d increments: %+v", workers*each, got)
	}

	// No write, or an error: the row made for the lock is gone again.
	if err := stores[0].UpdateOrigin(ctx, "https://new.example", t0, func(st *OriginState) (bool, error) {
		st.State = []byte("x")
		return false, nil
	}); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	if err := stores[0].UpdateOrigin(ctx, "https://new.example", t0, func(*OriginState) (bool, error) { return true, boom }); err != boom {
		t.Fatalf("fn's error came back as %v", err)
	}
	if os, err := stores[0].Origins(ctx); err != nil || len(os) != 1 {
		t.Fatalf("origins after changes that wrote nothing: %+v, %v", os, err)
	}
	// PutOriginLimits keeps the state; the state's writer sees the new limits.
	if err := stores[0].PutOriginLimits(ctx, key, quota.Limits{MaxConns: 2}, t0); err != nil {
		t.Fatal(err)
	}
	if err := stores[1].UpdateOrigin(ctx, key, t0, func(st *OriginState) (bool, error) {
		if st.Limits.MaxConns != 2 || string(st.State) != strconv.Itoa(workers*each) {
			t.Errorf("row after PutOriginLimits: %+v", st)
		}
		return false, nil
	}); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkPostgresUpdateOrigin times one locked read and write of an origin's state of a given
// size: the database's part of a lease operation on a shared store.
func BenchmarkPostgresUpdateOrigin(b *testing.B) {
	ctx := context.Background()
	p, err := OpenPostgres(ctx, pgtest.DSN(b))
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	t0 := time.UnixMilli(1_700_000_000_000).UTC()
	for _, size := range []int{300, 30_000, 300_000} {
		b.Run(fmt.Sprintf("state=%dB", size), func(b *testing.B) {
			key := fmt.Sprintf("https://o%d.example", size)
			doc := []byte(strings.Repeat(`{"lease":{"id":"x.1","holder":"h0001","conns":1}},`, size/50))
			i := 0
			for b.Loop() {
				i++
				err := p.UpdateOrigin(ctx, key, t0, func(st *OriginState) (bool, error) {
					doc[0] = byte('a' + i%26) // a changed document, as every lease operation writes
					st.State = doc
					return true, nil
				})
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
