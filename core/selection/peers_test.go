package selection

import (
	"fmt"
	"slices"
	"testing"

	"dist/core/api"
)

func peerHost(name, siteName, bt string) api.Host {
	h := host(name, siteName)
	h.BTAddr = bt
	h.HTTPURL = "http://" + name + ":7700"
	return h
}

func names(ps []api.Peer) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Host
	}
	return out
}

func TestOrderPeers(t *testing.T) {
	t.Parallel()
	self := peerHost("me", "a", "10.0.0.1:6881")
	tests := []struct {
		name  string
		self  api.Host
		cands []PeerCand
		limit int
		want  []string
	}{
		{
			name: "complete, then relays, then the rest",
			self: self,
			cands: []PeerCand{
				{Host: peerHost("p-rest", "a", "x:1")},
				{Host: peerHost("p-relay", "a", "x:2"), Relay: true},
				{Host: peerHost("p-done", "a", "x:3"), Complete: true},
			},
			want: []string{"p-done", "p-relay", "p-rest"},
		},
		{
			name: "complete relay counts as complete",
			self: self,
			cands: []PeerCand{
				{Host: peerHost("b-done", "a", "x:1"), Complete: true},
				{Host: peerHost("a-relay", "a", "x:2"), Relay: true, Complete: true},
				{Host: peerHost("c-relay", "a", "x:3"), Relay: true},
			},
			want: []string{"a-relay", "b-done", "c-relay"},
		},
		{
			name: "same site first within a class",
			self: self,
			cands: []PeerCand{
				{Host: peerHost("a-far", "b", "x:1")},
				{Host: peerHost("z-near", "a", "x:2")},
				{Host: peerHost("b-nosite", "", "x:3")},
				{Host: peerHost("y-near", "a", "x:4")},
			},
			want: []string{"y-near", "z-near", "a-far", "b-nosite"},
		},
		{
			name: "class beats site",
			self: self,
			cands: []PeerCand{
				{Host: peerHost("near", "a", "x:1")},
				{Host: peerHost("far-done", "b", "x:2"), Complete: true},
			},
			want: []string{"far-done", "near"},
		},
		{
			name: "self without site orders by name",
			self: peerHost("me", "", "x:0"),
			cands: []PeerCand{
				{Host: peerHost("b", "", "x:1")},
				{Host: peerHost("a", "z", "x:2")},
			},
			want: []string{"a", "b"},
		},
		{
			name: "drops self and hosts without bt address",
			self: self,
			cands: []PeerCand{
				{Host: peerHost("me", "a", "10.0.0.1:6881"), Complete: true},
				{Host: peerHost("nobt", "a", ""), Complete: true},
				{Host: peerHost("ok", "a", "x:1")},
			},
			want: []string{"ok"},
		},
		{
			name: "capped",
			self: self,
			cands: []PeerCand{
				{Host: peerHost("c", "a", "x:1")},
				{Host: peerHost("b", "a", "x:2")},
				{Host: peerHost("a", "a", "x:3")},
			},
			limit: 2,
			want:  []string{"a", "b"},
		},
		{
			name: "duplicates merged with the union of flags",
			self: self,
			cands: []PeerCand{
				{Host: peerHost("b", "a", "x:1")},
				{Host: peerHost("pub", "a", "x:2")},
				{Host: peerHost("pub", "a", "x:2"), Complete: true},
			},
			want: []string{"pub", "b"},
		},
		{name: "nothing", self: self, want: []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := OrderPeers(tt.self, tt.cands, tt.limit)
			if g := names(got); !slices.Equal(g, tt.want) {
				t.Errorf("OrderPeers = %v, want %v", g, tt.want)
			}
		})
	}
}

func TestOrderPeersFields(t *testing.T) {
	t.Parallel()
	got := OrderPeers(api.Host{Name: "me"}, []PeerCand{
		{Host: peerHost("r", "a", "10.0.0.9:6881"), Relay: true, Complete: true},
	}, 50)
	want := api.Peer{Host: "r", BTAddr: "10.0.0.9:6881", HTTPURL: "http://r:7700", Relay: true, Complete: true}
	if len(got) != 1 || got[0] != want {
		t.Fatalf("OrderPeers = %+v, want [%+v]", got, want)
	}
	if out := OrderPeers(api.Host{Name: "me"}, nil, 50); out == nil {
		t.Fatal("OrderPeers answered nil, want an empty list (it is marshalled as [])")
	}
}

func netHost(name, siteName, bt string, labels map[string]string) api.Host {
	h := peerHost(name, siteName, bt)
	if h.Labels == nil {
		h.Labels = map[string]string{}
	}
	for k, v := range labels {
		h.Labels[k] = v
	}
	return h
}

func TestOrderPeersLocality(t *testing.T) {
	t.Parallel()
	self := peerHost("me", "a", "10.1.2.3:6881")
	cands := []PeerCand{
		{Host: peerHost("p-far", "b", "192.168.9.9:1")},
		{Host: peerHost("p-subnet", "b", "10.1.2.77:1")},
		{Host: peerHost("p-site", "a", "10.9.0.1:1")},
		{Host: peerHost("p-both", "a", "10.1.2.50:1")},
	}
	got := names(OrderPeers(self, cands, 0))
	if want := []string{"p-both", "p-site", "p-subnet", "p-far"}; !slices.Equal(got, want) {
		t.Fatalf("OrderPeers = %v, want %v", got, want)
	}
}

func TestOrderPeersInternalAddress(t *testing.T) {
	t.Parallel()
	nat := map[string]string{NetworkLabel: "ams-lan", InternalAddrLabel: "10.0.0.5:6881"}
	peer := netHost("p", "a", "203.0.113.5:6881", nat)
	inside := netHost("in", "a", "203.0.113.6:6881", map[string]string{NetworkLabel: "ams-lan"})
	outside := netHost("out", "b", "198.51.100.1:6881", map[string]string{NetworkLabel: "fra-lan"})
	if got := OrderPeers(inside, []PeerCand{{Host: peer}}, 0); got[0].BTAddr != "10.0.0.5:6881" {
		t.Errorf("a peer inside the network got %s, want the internal address", got[0].BTAddr)
	}
	if got := OrderPeers(outside, []PeerCand{{Host: peer}}, 0); got[0].BTAddr != "203.0.113.5:6881" {
		t.Errorf("a peer outside the network got %s, want the external address", got[0].BTAddr)
	}
	// The labelled network counts as the subnet, whatever the addresses say.
	far := netHost("far", "", "203.0.113.7:6881", map[string]string{NetworkLabel: "other"})
	got := names(OrderPeers(inside, []PeerCand{{Host: far}, {Host: netHost("z-same", "", "198.18.0.1:1", map[string]string{NetworkLabel: "ams-lan"})}}, 0))
	if want := []string{"z-same", "far"}; !slices.Equal(got, want) {
		t.Errorf("OrderPeers = %v, want %v", got, want)
	}
}

func TestOrderPeersPointedRelayAndCap(t *testing.T) {
	t.Parallel()
	self := peerHost("me", "a", "x:0")
	var cands []PeerCand
	for i := range 30 {
		cands = append(cands, PeerCand{Host: peerHost(fmt.Sprintf("p%02d", i), "a", fmt.Sprintf("x:%d", i+1))})
	}
	cands = append(cands,
		PeerCand{Host: peerHost("r-other", "a", "x:100"), Relay: true},
		PeerCand{Host: peerHost("r-mine", "b", "x:101"), Relay: true, Pointed: true},
		PeerCand{Host: peerHost("seed", "b", "x:102"), Complete: true},
	)
	got := names(OrderPeers(self, cands, 5))
	if want := []string{"seed", "r-mine", "r-other", "p00", "p01"}; !slices.Equal(got, want) {
		t.Fatalf("OrderPeers = %v, want %v", got, want)
	}
}
