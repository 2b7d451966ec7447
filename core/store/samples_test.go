package store

import (
	"context"
	"testing"
	"time"

	"dist/core/api"
)

func testSamples(t *testing.T, b backend) {
	s, ctx := openTest(t, b), context.Background()
	mustCreate(t, s, dist("d1", t0, api.DistActive), nil)
	err := s.AddSamples(ctx, []Sample{
		{DistID: "d1", Host: "c1", Role: api.RoleClient, At: t0.Add(2 * time.Second), Have: 200, BytesBT: 150, BytesHTTPRelay: 50},
		{DistID: "d1", Host: "c1", Role: api.RoleClient, At: t0.Add(time.Second), Have: 100, BytesBT: 100},
		{DistID: "gone", Host: "c1", Role: api.RoleClient, At: t0, Have: 1}, // dropped, not an error
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Samples(ctx, "d1")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Have != 100 || got[1].Have != 200 || got[1].BytesHTTPRelay != 50 || !got[1].At.Equal(t0.Add(2*time.Second)) {
		t.Fatalf("samples = %+v, want two, oldest first", got)
	}
}

func testRelayRates(t *testing.T, b backend) {
	s, ctx := openTest(t, b), context.Background()
	for _, h := range []api.Host{
		{Name: "c1", Labels: map[string]string{"site": "a"}},
		{Name: "c2", Labels: map[string]string{"site": "b"}},
	} {
		if err := s.UpsertHost(ctx, h); err != nil {
			t.Fatal(err)
		}
	}
	c1 := asg("d1", "c1", api.RoleClient, api.TaskDone)
	c1.Have, c1.FirstByteAt, c1.DoneAt = 10<<20, t0, t0.Add(time.Second) // 10 MiB/s
	c2 := asg("d1", "c2", api.RoleClient, api.TaskDone)
	c2.Have, c2.FirstByteAt, c2.DoneAt = 10<<20, t0, t0.Add(10*time.Second) // 1 MiB/s
	mustCreate(t, s, dist("d1", t0, api.DistComplete), nil, asg("d1", "r1", api.RoleRelay, api.TaskSeeding), c1, c2)
	rates, err := s.RelayRates(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, r := range rates {
		got[r.Relay+"@"+r.Site] = r.Rate
	}
	if got["r1@a"] != 10<<20 || got["r1@b"] != 1<<20 || len(got) != 2 {
		t.Fatalf("relay rates = %v, want r1@a 10 MiB/s and r1@b 1 MiB/s", got)
	}
}
