package selection

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"dist/core/api"
)

func TestRelayCount(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name                          string
		targets, requested, available int
		want                          int
	}{
		{"one target gets one relay", 1, 0, 5, 1},
		{"33 targets still one", 33, 0, 5, 1},
		{"34 targets round up to two", 34, 0, 5, 2},
		{"100 targets three", 100, 0, 10, 3},
		{"1000 targets thirty", 1000, 0, 100, 30},
		{"auto capped by available", 1000, 0, 4, 4},
		{"requested honoured", 10, 4, 5, 4},
		{"requested capped by available", 10, 9, 5, 5},
		{"no relay available", 100, 0, 0, 0},
		{"requested but none available", 100, 3, 0, 0},
		{"no targets", 0, 0, 5, 0},
		{"negative requested is automatic", 100, -1, 10, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := RelayCount(tt.targets, tt.requested, tt.available); got != tt.want {
				t.Errorf("RelayCount(%d, %d, %d) = %d, want %d", tt.targets, tt.requested, tt.available, got, tt.want)
			}
		})
	}
}

func host(name, siteName string) api.Host {
	h := api.Host{Name: name}
	if siteName != "" {
		h.Labels = map[string]string{SiteLabel: siteName}
	}
	return h
}

func TestPickRelays(t *testing.T) {
	t.Parallel()
	targets := []api.Host{host("c1", "a"), host("c2", "a"), host("c3", "a"), host("c4", "b"), host("c5", "")}
	tests := []struct {
		name  string
		cands []Candidate
		n     int
		want  []string
	}{
		{
			name:  "site of most targets first",
			cands: []Candidate{{Host: host("r-b", "b"), Active: 0}, {Host: host("r-a", "a"), Active: 0}, {Host: host("r-none", ""), Active: 0}},
			n:     1,
			want:  []string{"r-a"},
		},
		{
			name:  "then the other target sites, then no site",
			cands: []Candidate{{Host: host("r-none", ""), Active: 0}, {Host: host("r-c", "c"), Active: 0}, {Host: host("r-b", "b"), Active: 0}, {Host: host("r-a", "a"), Active: 0}},
			n:     4,
			want:  []string{"r-a", "r-b", "r-c", "r-none"},
		},
		{
			name:  "least loaded within a site",
			cands: []Candidate{{Host: host("r1", "a"), Active: 3}, {Host: host("r2", "a"), Active: 1}, {Host: host("r3", "a"), Active: 2}},
			n:     2,
			want:  []string{"r2", "r3"},
		},
		{
			name:  "site beats load",
			cands: []Candidate{{Host: host("busy-a", "a"), Active: 9}, {Host: host("idle-b", "b"), Active: 0}},
			n:     1,
			want:  []string{"busy-a"},
		},
		{
			name:  "name breaks ties",
			cands: []Candidate{{Host: host("r2", "a"), Active: 0}, {Host: host("r1", "a"), Active: 0}},
			n:     2,
			want:  []string{"r1", "r2"},
		},
		{
			name:  "n larger than candidates",
			cands: []Candidate{{Host: host("r1", "a"), Active: 0}},
			n:     3,
			want:  []string{"r1"},
		},
		{
			name:  "duplicates picked once",
			cands: []Candidate{{Host: host("r1", "a"), Active: 0}, {Host: host("r1", "a"), Active: 0}, {Host: host("r2", "a"), Active: 1}},
			n:     2,
			want:  []string{"r1", "r2"},
		},
		{name: "zero wanted", cands: []Candidate{{Host: host("r1", "a"), Active: 0}}, n: 0, want: nil},
		{name: "no candidates", cands: nil, n: 2, want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := PickRelays(tt.cands, targets, tt.n)
			if !slices.Equal(got, tt.want) {
				t.Errorf("PickRelays = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestPickRelaysLeavesInputAlone(t *testing.T) {
	t.Parallel()
	cands := []Candidate{{Host: host("r2", "a"), Active: 0}, {Host: host("r1", "a"), Active: 0}}
	PickRelays(cands, nil, 2)
	if cands[0].Host.Name != "r2" {
		t.Fatalf("PickRelays reordered its input: %v", cands)
	}
}

func TestPickSpreadsOverSites(t *testing.T) {
	t.Parallel()
	// 6 targets in a, 4 in b: two relays go one to each site, not both to the larger one.
	var targets []api.Host
	for i := range 6 {
		targets = append(targets, host(fmt.Sprintf("a%d", i), "a"))
	}
	for i := range 4 {
		targets = append(targets, host(fmt.Sprintf("b%d", i), "b"))
	}
	cands := []Candidate{
		{Host: host("ra1", "a")}, {Host: host("ra2", "a")}, {Host: host("rb1", "b")},
	}
	if got, want := Pick(cands, targets, 2, nil), []string{"ra1", "rb1"}; !slices.Equal(got, want) {
		t.Fatalf("Pick = %v, want %v", got, want)
	}
}

func TestPickLoadAndHistory(t *testing.T) {
	t.Parallel()
	targets := []api.Host{host("c1", "a"), host("c2", "a")}
	tests := []struct {
		name  string
		cands []Candidate
		want  string
	}{
		{"fewer transfers", []Candidate{
			{Host: host("r1", "a"), Transfers: 40}, {Host: host("r2", "a"), Transfers: 3},
		}, "r2"},
		{"less upload in flight", []Candidate{
			{Host: host("r1", "a"), UpRate: 90 << 20}, {Host: host("r2", "a"), UpRate: 1 << 20},
		}, "r2"},
		{"tasks before transfers", []Candidate{
			{Host: host("r1", "a"), Active: 1}, {Host: host("r2", "a"), Transfers: 50},
		}, "r2"},
		{"faster history to the target site", []Candidate{
			{Host: host("r1", "a"), Throughput: map[string]int64{"a": 10 << 20}},
			{Host: host("r2", "a"), Throughput: map[string]int64{"a": 80 << 20}},
		}, "r2"},
		{"history to other sites does not count", []Candidate{
			{Host: host("r1", "a"), Throughput: map[string]int64{"z": 900 << 20}},
			{Host: host("r2", "a"), Throughput: map[string]int64{"a": 1 << 20}},
		}, "r2"},
		{"load beats history", []Candidate{
			{Host: host("r1", "a"), Active: 2, Throughput: map[string]int64{"a": 900 << 20}},
			{Host: host("r2", "a"), Active: 1},
		}, "r2"},
		{"region when no relay in the site", []Candidate{
			{Host: regional("r-far", "x", "eu")}, {Host: regional("r-near", "y", "us")},
		}, "r-near"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg := targets
			if strings.HasPrefix(tt.name, "region") {
				tg = []api.Host{regional("c1", "a", "us"), regional("c2", "a", "us")}
			}
			got := Pick(tt.cands, tg, 1, nil)
			if len(got) != 1 || got[0] != tt.want {
				t.Errorf("Pick = %v, want [%s]", got, tt.want)
			}
		})
	}
}

func regional(name, siteName, regionName string) api.Host {
	h := host(name, siteName)
	h.Labels[RegionLabel] = regionName
	return h
}

func TestReplace(t *testing.T) {
	t.Parallel()
	targets := []api.Host{host("c1", "a"), host("c2", "a"), host("c3", "b")}
	cands := []Candidate{
		{Host: host("ra1", "a")}, {Host: host("ra2", "a"), Active: 1}, {Host: host("rb", "b")},
	}
	// ra1 failed while ra1 and rb served: the other relay of site a takes over, not rb again.
	got, ok := Replace(cands, targets, []string{"ra1", "rb"}, "ra1")
	if !ok || got != "ra2" {
		t.Fatalf("Replace = %q, %v; want ra2", got, ok)
	}
	// No spare relay: nothing to replace with.
	if got, ok := Replace(cands[:1], targets, []string{"ra1"}, "ra1"); ok {
		t.Fatalf("Replace with no spare = %q, want none", got)
	}
}

func TestPoint(t *testing.T) {
	t.Parallel()
	relays := []api.Host{host("ra", "a"), host("rb", "b"), host("rc", "c")}
	clients := []api.Host{host("a1", "a"), host("a2", "a"), host("b1", "b"), host("x1", ""), host("x2", ""), host("x3", "")}
	got := Point(relays, clients)
	for c, want := range map[string]string{"a1": "ra", "a2": "ra", "b1": "rb"} {
		if got[c] != want {
			t.Errorf("Point[%s] = %s, want %s", c, got[c], want)
		}
	}
	// Clients without a site go to the least loaded relays: rc first, then rb, then ra or rb.
	load := map[string]int{}
	for _, r := range got {
		load[r]++
	}
	if load["rc"] == 0 || max(load["ra"], load["rb"], load["rc"])-min(load["ra"], load["rb"], load["rc"]) > 1 {
		t.Errorf("Point spread %v, want every relay within one client of the others", load)
	}
	// ra fails: its clients are re-pointed, the others stay where they were.
	again := Point(relays[1:], clients)
	for _, c := range clients {
		if got[c.Name] != "ra" && again[c.Name] != got[c.Name] && c.Labels[SiteLabel] != "" {
			t.Errorf("client %s moved from %s to %s though its relay did not fail", c.Name, got[c.Name], again[c.Name])
		}
		if again[c.Name] == "ra" || again[c.Name] == "" {
			t.Errorf("client %s pointed at %q after ra failed", c.Name, again[c.Name])
		}
	}
	if len(Point(nil, clients)) != 0 {
		t.Error("Point without relays answered pointers")
	}
}
