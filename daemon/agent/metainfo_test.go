package agent

import (
	"context"
	"errors"
	"slices"
	"testing"

	"dist/core/api"
)

func TestMetainfosFetchOncePerSum(t *testing.T) {
	t.Parallel()
	var m Metainfos
	calls := map[string]int{}
	fail := map[string]bool{"bad": true}
	fetch := func(_ context.Context, sum string) ([]byte, error) {
		calls[sum]++
		if fail[sum] {
			return nil, errors.New("controller answered 503")
		}
		return []byte("mi-" + sum), nil
	}
	tasks := func() []api.Task {
		return []api.Task{{ID: "d1/h/client", MetainfoSHA256: "s1"}, {ID: "d2/h/relay", MetainfoSHA256: "s1"},
			{ID: "d3/h/client"}, {ID: "d4/h/client", MetainfoSHA256: "bad"}}
	}
	for round := range 3 {
		ts := tasks()
		err := m.Fill(context.Background(), fetch, ts)
		if err == nil {
			t.Fatalf("round %d: a failed fetch answered no error", round)
		}
		if !slices.Equal(ts[0].Metainfo, []byte("mi-s1")) || !slices.Equal(ts[1].Metainfo, []byte("mi-s1")) {
			t.Fatalf("round %d: metainfo %q %q, want mi-s1", round, ts[0].Metainfo, ts[1].Metainfo)
		}
		if ts[2].Metainfo != nil || ts[3].Metainfo != nil {
			t.Fatalf("round %d: tasks without a fetched metainfo got %q %q", round, ts[2].Metainfo, ts[3].Metainfo)
		}
	}
	if calls["s1"] != 1 || calls["bad"] != 3 {
		t.Errorf("fetches %v: want s1 once, the failing one every round", calls)
	}
	// A sum no task names any more is forgotten: named again, it is fetched again.
	fail["bad"] = false
	if err := m.Fill(context.Background(), fetch, []api.Task{{ID: "d4/h/client", MetainfoSHA256: "bad"}}); err != nil {
		t.Fatal(err)
	}
	if err := m.Fill(context.Background(), fetch, tasks()); err != nil {
		t.Fatal(err)
	}
	if calls["s1"] != 2 {
		t.Errorf("s1 fetched %d times after it was forgotten, want 2", calls["s1"])
	}
}
