package selection

import (
	"slices"
	"testing"

	"dist/core/api"
)

func TestRelayCount(t *testing.T) {
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
	targets := []api.Host{host("c1", "a"), host("c2", "a"), host("c3", "a"), host("c4", "b"), host("c5", "")}
	tests := []struct {
		name  string
		cands []Candidate
		n     int
		want  []string
	}{
		{
			name:  "site of most targets first",
			cands: []Candidate{{host("r-b", "b"), 0}, {host("r-a", "a"), 0}, {host("r-none", ""), 0}},
			n:     1,
			want:  []string{"r-a"},
		},
		{
			name:  "then the other target sites, then no site",
			cands: []Candidate{{host("r-none", ""), 0}, {host("r-c", "c"), 0}, {host("r-b", "b"), 0}, {host("r-a", "a"), 0}},
			n:     4,
			want:  []string{"r-a", "r-b", "r-c", "r-none"},
		},
		{
			name:  "least loaded within a site",
			cands: []Candidate{{host("r1", "a"), 3}, {host("r2", "a"), 1}, {host("r3", "a"), 2}},
			n:     2,
			want:  []string{"r2", "r3"},
		},
		{
			name:  "site beats load",
			cands: []Candidate{{host("busy-a", "a"), 9}, {host("idle-b", "b"), 0}},
			n:     1,
			want:  []string{"busy-a"},
		},
		{
			name:  "name breaks ties",
			cands: []Candidate{{host("r2", "a"), 0}, {host("r1", "a"), 0}},
			n:     2,
			want:  []string{"r1", "r2"},
		},
		{
			name:  "n larger than candidates",
			cands: []Candidate{{host("r1", "a"), 0}},
			n:     3,
			want:  []string{"r1"},
		},
		{
			name:  "duplicates picked once",
			cands: []Candidate{{host("r1", "a"), 0}, {host("r1", "a"), 0}, {host("r2", "a"), 1}},
			n:     2,
			want:  []string{"r1", "r2"},
		},
		{name: "zero wanted", cands: []Candidate{{host("r1", "a"), 0}}, n: 0, want: nil},
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
	cands := []Candidate{{host("r2", "a"), 0}, {host("r1", "a"), 0}}
	PickRelays(cands, nil, 2)
	if cands[0].Host.Name != "r2" {
		t.Fatalf("PickRelays reordered its input: %v", cands)
	}
}
