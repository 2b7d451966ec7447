package selection

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"dist/core/api"
)

// randomFleet builds n hosts over sites sites (a few unlabelled), regions of about three sites,
// /24 subnets of up to 64 hosts, a few with a network label or an IPv6 address, and a few
// without a BitTorrent address.
func randomFleet(rng *rand.Rand, n, sites int) []api.Host {
	hs := make([]api.Host, n)
	for i := range hs {
		s := rng.IntN(sites)
		labels := map[string]string{}
		if rng.IntN(20) != 0 {
			labels[SiteLabel] = fmt.Sprintf("s%02d", s)
		}
		if rng.IntN(10) != 0 {
			labels[RegionLabel] = fmt.Sprintf("r%d", s/3)
		}
		sub := rng.IntN(n/64 + 2)
		bt := fmt.Sprintf("10.%d.%d.%d:6881", s, sub, 1+rng.IntN(250))
		switch rng.IntN(40) {
		case 0:
			bt = ""
		case 1:
			bt = fmt.Sprintf("[fd00:%x:%x::%x]:6881", s, sub%4, 1+rng.IntN(999))
		case 2:
			labels[NetworkLabel] = fmt.Sprintf("lan%d", rng.IntN(3))
			labels[InternalAddrLabel] = fmt.Sprintf("192.168.0.%d:6881", 1+rng.IntN(250))
		}
		hs[i] = api.Host{Name: fmt.Sprintf("h%05d", rng.IntN(10*n)), Labels: labels, BTAddr: bt, HTTPURL: "http://" + bt}
	}
	return hs
}

func randomCands(rng *rand.Rand, hs []api.Host) []Candidate {
	cs := make([]Candidate, len(hs))
	for i, h := range hs {
		c := Candidate{Host: h, Active: rng.IntN(3) * rng.IntN(2), Transfers: rng.IntN(2) * rng.IntN(3)}
		if rng.IntN(4) == 0 {
			c.UpRate = int64(rng.IntN(3)) * 1000
		}
		if rng.IntN(3) == 0 {
			c.Throughput = map[string]int64{}
			for range 1 + rng.IntN(3) {
				c.Throughput[fmt.Sprintf("s%02d", rng.IntN(40))] = int64(rng.IntN(4)) * 1e6
			}
		}
		cs[i] = c
	}
	return cs
}

// TestPickMatchesScan checks that the indexed Pick chooses what the plain greedy loop chooses, on
// random fleets with loads, history (also to sites without targets), duplicates and exclusions.
func TestPickMatchesScan(t *testing.T) {
	t.Parallel()
	for seed := range uint64(30) {
		rng := rand.New(rand.NewPCG(seed, 1))
		n := 200 + rng.IntN(3000)
		hs := randomFleet(rng, n, 2+rng.IntN(30))
		cands := randomCands(rng, hs[:n/2])
		targets := hs[n/2:]
		k := 1 + rng.IntN(n/10)
		var exclude []string
		for range rng.IntN(5) {
			exclude = append(exclude, cands[rng.IntN(len(cands))].Host.Name)
		}
		got := Pick(cands, targets, k, exclude)
		want := pickOracle(cands, targets, k, exclude)
		if !slices.Equal(got, want) {
			t.Fatalf("seed %d: Pick of %d from %d = %v…, the scan answers %v…", seed, k, len(cands), head(got), head(want))
		}
	}
}

// TestPickNegativeThroughput checks the fallback for throughputs that break the indexed rule.
func TestPickNegativeThroughput(t *testing.T) {
	t.Parallel()
	cands := []Candidate{
		{Host: host("a", "x"), Throughput: map[string]int64{"x": -5}},
		{Host: host("b", "x"), Throughput: map[string]int64{"x": 1}},
		{Host: host("c", "y")},
	}
	targets := []api.Host{host("t1", "x"), host("t2", "x"), host("t3", "y")}
	got := Pick(cands, targets, 3, nil)
	if want := pickOracle(cands, targets, 3, nil); !slices.Equal(got, want) || len(got) != 3 {
		t.Fatalf("Pick = %v, want %v", got, want)
	}
}

// TestPickHistoryOfUncoveredSite checks the one case where history rises: a relay picked in a site
// without targets puts that site in the count, and throughput to it starts to weigh.
func TestPickHistoryOfUncoveredSite(t *testing.T) {
	t.Parallel()
	cands := []Candidate{
		{Host: host("a", "y"), Throughput: map[string]int64{"x": 10}},
		{Host: host("b", "z"), Throughput: map[string]int64{"x": 1}},
		{Host: host("c", "z"), Throughput: map[string]int64{"y": 5}},
	}
	targets := []api.Host{host("t1", "x")}
	got := Pick(cands, targets, 3, nil)
	if want := []string{"a", "c", "b"}; !slices.Equal(got, want) || !slices.Equal(pickOracle(cands, targets, 3, nil), want) {
		t.Fatalf("Pick = %v, want %v", got, want)
	}
}

// pickOracle is Pick as it was: the scan over every candidate at each step.
func pickOracle(cands []Candidate, targets []api.Host, n int, exclude []string) []string {
	perSite, perRegion := map[string]int{}, map[string]int{}
	for _, t := range targets {
		if s := site(t); s != "" {
			perSite[s]++
		}
		if r := region(t); r != "" {
			perRegion[r]++
		}
	}
	share := max(1, (len(targets)+n-1)/n)
	seen := map[string]bool{}
	for _, x := range exclude {
		seen[x] = true
	}
	var left []Candidate
	for _, c := range cands {
		if !seen[c.Host.Name] {
			seen[c.Host.Name] = true
			left = append(left, c)
		}
	}
	return pickScan(left, perSite, perRegion, share, n)
}

func head(s []string) []string { return s[:min(len(s), 8)] }

// TestPointMatchesScan checks that the indexed Point points every client where the scan does.
func TestPointMatchesScan(t *testing.T) {
	t.Parallel()
	for seed := range uint64(30) {
		rng := rand.New(rand.NewPCG(seed, 2))
		n := 100 + rng.IntN(2500)
		hs := randomFleet(rng, n, 1+rng.IntN(40))
		r := 1 + rng.IntN(n/10)
		got, want := Point(hs[:r], hs[r:]), pointScan(hs[:r], hs[r:])
		if len(got) != len(want) {
			t.Fatalf("seed %d: %d clients pointed, the scan points %d", seed, len(got), len(want))
		}
		for c, rl := range want {
			if got[c] != rl {
				t.Fatalf("seed %d: client %s pointed at %s, the scan says %s", seed, c, got[c], rl)
			}
		}
	}
}

// TestPeerIndexMatchesOrderPeers checks that an ask of the index answers what OrderPeers answers
// over the whole swarm, for askers in and out of the swarm, pointed at a relay or not, with and
// without a cap.
func TestPeerIndexMatchesOrderPeers(t *testing.T) {
	t.Parallel()
	for seed := range uint64(12) {
		rng := rand.New(rand.NewPCG(seed, 3))
		n := 100 + rng.IntN(3000)
		hs := randomFleet(rng, n, 1+rng.IntN(40))
		cands := make([]PeerCand, len(hs))
		var relays []string
		for i, h := range hs {
			cands[i] = PeerCand{Host: h, Relay: rng.IntN(30) == 0, Complete: rng.IntN(8) == 0}
			if cands[i].Relay {
				relays = append(relays, h.Name)
			}
		}
		// A host listed twice, with other flags.
		cands = append(cands, PeerCand{Host: hs[0], Relay: true})
		x := NewPeerIndex(cands)
		for q := range 25 {
			self := hs[rng.IntN(len(hs))]
			if q%10 == 0 {
				self = randomFleet(rng, 1, 40)[0] // an asker outside the swarm
			}
			pointed := ""
			if len(relays) > 0 && rng.IntN(4) != 0 {
				pointed = relays[rng.IntN(len(relays))]
			}
			limit := []int{0, 1, 10, 51}[rng.IntN(4)]
			withPointed := slices.Clone(cands)
			for i := range withPointed {
				withPointed[i].Pointed = withPointed[i].Host.Name == pointed
			}
			got, want := x.Peers(self, pointed, limit), OrderPeers(self, withPointed, limit)
			if !slices.Equal(got, want) {
				t.Fatalf("seed %d ask %d (self %s, pointed %q, limit %d): index answers %d peers %v…, OrderPeers %d %v…",
					seed, q, self.Name, pointed, limit, len(got), peerHead(got), len(want), peerHead(want))
			}
		}
	}
}

func peerHead(ps []api.Peer) []string { return head(names(ps)) }

// Benchmarks: the plain scans against the indexes, at 10k, 100k and 1M hosts, 3 % relays over 40
// sites. The scans take minutes to hours per call at the larger sizes: Pick's runs at 10k only,
// Point's up to 100k; the others say how many comparisons they would make.

func benchFleet(n int) ([]api.Host, []Candidate) {
	rng := rand.New(rand.NewPCG(uint64(n), 9))
	hs := make([]api.Host, n)
	for i := range hs {
		s := rng.IntN(40)
		hs[i] = api.Host{Name: fmt.Sprintf("h%07d", i), BTAddr: fmt.Sprintf("10.%d.%d.%d:6881", s, (i/250)%256, 1+i%250),
			Labels: map[string]string{SiteLabel: fmt.Sprintf("s%02d", s), RegionLabel: fmt.Sprintf("r%d", s/5)}}
	}
	// Load as in a busy fleet; history (measured rates, so rarely equal) for the tenth of the hosts
	// that relayed before.
	cs := make([]Candidate, n)
	for i, h := range hs {
		c := Candidate{Host: h, Active: rng.IntN(3) * rng.IntN(2), Transfers: rng.IntN(2) * rng.IntN(3)}
		if rng.IntN(10) == 0 {
			c.Throughput = map[string]int64{}
			for range 1 + rng.IntN(3) {
				c.Throughput[fmt.Sprintf("s%02d", rng.IntN(40))] = 1e5 + rng.Int64N(1e8)
			}
		}
		cs[i] = c
	}
	return hs, cs
}

var benchSizes = []int{10_000, 100_000, 1_000_000}

func BenchmarkPick(b *testing.B) {
	for _, n := range benchSizes {
		hs, cands := benchFleet(n)
		k := RelayCount(n, 0, n)
		b.Run(fmt.Sprintf("hosts=%d/indexed", n), func(b *testing.B) {
			for b.Loop() {
				Pick(cands, hs, k, nil)
			}
		})
		b.Run(fmt.Sprintf("hosts=%d/scan", n), func(b *testing.B) {
			if n > 10_000 {
				b.Skipf("not run: %d relays × %d candidates = %.0e comparisons", k, n, float64(k)*float64(n))
			}
			for b.Loop() {
				pickOracle(cands, hs, k, nil)
			}
		})
	}
}

func BenchmarkPoint(b *testing.B) {
	for _, n := range benchSizes {
		hs, _ := benchFleet(n)
		r := RelayCount(n, 0, n)
		b.Run(fmt.Sprintf("hosts=%d/indexed", n), func(b *testing.B) {
			for b.Loop() {
				Point(hs[:r], hs[r:])
			}
		})
		b.Run(fmt.Sprintf("hosts=%d/scan", n), func(b *testing.B) {
			if n > 100_000 {
				b.Skipf("not run: %d relays × %d clients = %.0e comparisons", r, n-r, float64(r)*float64(n-r))
			}
			for b.Loop() {
				pointScan(hs[:r], hs[r:])
			}
		})
	}
}

func BenchmarkPeers(b *testing.B) {
	for _, n := range benchSizes {
		hs, _ := benchFleet(n)
		cands := make([]PeerCand, n)
		for i, h := range hs {
			cands[i] = PeerCand{Host: h, Relay: i%33 == 0, Complete: i%7 == 0}
		}
		x := NewPeerIndex(cands)
		b.Run(fmt.Sprintf("hosts=%d/index", n), func(b *testing.B) {
			i := 0
			for b.Loop() {
				x.Peers(hs[i%n], hs[0].Name, 51)
				i += 7919
			}
		})
		b.Run(fmt.Sprintf("hosts=%d/orderpeers", n), func(b *testing.B) {
			i := 0
			for b.Loop() {
				OrderPeers(hs[i%n], cands, 51)
				i += 7919
			}
		})
	}
}

// TestRelaysFlattens checks that Relays names each relay once, in order of first appearance.
func TestRelaysFlattens(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		groups []Group
		want   []string
	}{
		{nil, nil},
		{[]Group{{Relays: []string{"b", "a"}}, {Relays: []string{"a", "c", "b"}}, {}}, []string{"b", "a", "c"}},
		{[]Group{{Relays: []string{"x", "x"}}}, []string{"x"}},
	} {
		if got := Relays(tc.groups); !slices.Equal(got, tc.want) {
			t.Errorf("Relays(%v) = %v, want %v", tc.groups, got, tc.want)
		}
	}
}
