package quota

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"
)

// roundTrip moves a's state into a fresh allocator, as a controller sharing the database does
// before every operation.
func roundTrip(t *testing.T, a *Allocator) *Allocator {
	t.Helper()
	doc, err := a.Export()
	if err != nil {
		t.Fatal(err)
	}
	b := New(Limits{}, a.TTL(), WithReserve(a.reserve))
	if err := b.Import(doc); err != nil {
		t.Fatalf("import %s: %v", doc, err)
	}
	again, err := b.Export()
	if err != nil {
		t.Fatal(err)
	}
	if string(again) != string(doc) {
		t.Fatalf("export after import differs:\n got %s\nwant %s", again, doc)
	}
	return b
}

// A random sequence of operations gives the same answers, step by step, on one allocator and on a
// chain of allocators where each step runs on a fresh one imported from the previous one's export.
func TestExportImportKeepsBehaviour(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		limits Limits
		seed   uint64
	}{
		{"conns", Limits{MaxConns: 6}, 1},
		{"conns and rate", Limits{MaxConns: 5, MaxRate: 40 * MiB}, 2},
		{"bytes per window", Limits{MaxConns: 8, MaxRate: 10 * MiB, MaxBytes: 3 * GiB, Window: time.Hour}, 3},
		{"bytes without rate", Limits{MaxConns: 3, MaxBytes: 500 * MiB, Window: time.Minute}, 4},
		{"unlimited", Limits{}, 5},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(tc.seed, 99))
			const ttl = 10 * time.Second
			one := New(tc.limits, ttl)
			chain := New(tc.limits, ttl)
			now := t0
			ids := map[string]string{} // holder → lease id, as both answered
			var holders []string
			for i := range 12 {
				holders = append(holders, fmt.Sprintf("h%02d", i))
			}
			for step := range 3000 {
				chain = roundTrip(t, chain)
				now = now.Add(time.Duration(rng.IntN(4000)) * time.Millisecond)
				h := holders[rng.IntN(len(holders))]
				var got, want string
				switch op := rng.IntN(10); {
				case op < 3:
					r := Request{Holder: h, Relay: rng.IntN(4) == 0, Conns: rng.IntN(4), Rate: int64(rng.IntN(3)) * MiB,
						Bandwidth: float64(rng.IntN(3)), Priority: []float64{0, 0.5, 1, 2, 4}[rng.IntN(5)]}
					l1, ok1, r1 := one.Acquire(now, r)
					l2, ok2, r2 := chain.Acquire(now, r)
					want, got = fmt.Sprint(l1, ok1, r1), fmt.Sprint(l2, ok2, r2)
					if ok1 {
						ids[h] = l1.ID
					}
				case op < 6:
					used := int64(rng.IntN(50)) * MiB
					l1, ok1 := one.Renew(now, ids[h], used)
					l2, ok2 := chain.Renew(now, ids[h], used)
					want, got = fmt.Sprint(l1, ok1), fmt.Sprint(l2, ok2)
				case op < 7:
					used := int64(rng.IntN(50)) * MiB
					want, got = fmt.Sprint(one.Release(now, ids[h], used)), fmt.Sprint(chain.Release(now, ids[h], used))
				case op < 9:
					status := []int{200, 206, 429, 503, 0}[rng.IntN(5)]
					lat := time.Duration(20+rng.IntN(400)) * time.Millisecond
					one.Feedback(now, status, lat)
					chain.Feedback(now, status, lat)
				default:
					l := tc.limits
					if l.MaxConns > 0 {
						l.MaxConns = 1 + rng.IntN(8)
					}
					one.SetLimits(now, l)
					chain.SetLimits(now, l)
				}
				if got != want {
					t.Fatalf("step %d: answer after export/import %s, want %s", step, got, want)
				}
				if s1, s2 := one.State(now), chain.State(now); !reflect.DeepEqual(s1, s2) {
					t.Fatalf("step %d: state after export/import\n got %+v\nwant %+v", step, s2, s1)
				}
			}
		})
	}
}

// Import reads what a later version may add and refuses what Export cannot have written, leaving
// the allocator as it was.
func TestImportDocuments(t *testing.T) {
	t.Parallel()
	a := New(Limits{MaxConns: 2}, time.Second)
	mustAcquire(t, a, t0, Request{Holder: "x"})
	good, err := a.Export()
	if err != nil {
		t.Fatal(err)
	}
	future := strings.Replace(string(good), `"v":1`, `"v":2,"new_field":{"a":[1,2]}`, 1)
	cases := []struct {
		name, doc, err string
	}{
		{"as exported", string(good), ""},
		{"later version with a new field", future, ""},
		{"not json", "{", "import allocator"},
		{"no version", `{"factor":1}`, "no version"},
		{"negative limit", `{"v":1,"limits":{"max_conns":-1}}`, "negative"},
		{"two leases of one holder", `{"v":1,"leases":[{"id":"a","holder":"x"},{"id":"b","holder":"x"}]}`, "two leases"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := New(Limits{MaxConns: 9}, time.Second)
			err := b.Import([]byte(tc.doc))
			if tc.err == "" {
				if err != nil {
					t.Fatalf("import: %v", err)
				}
				if st := b.State(t0); st.Conns != 1 || st.Limits.MaxConns != 2 || len(st.Leases) != 1 {
					t.Errorf("state after import: %+v", st)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("import error %v, want one containing %q", err, tc.err)
			}
			if b.Limits().MaxConns != 9 || len(b.State(t0).Leases) != 0 {
				t.Errorf("a refused import changed the allocator: %+v", b.State(t0))
			}
		})
	}
}
