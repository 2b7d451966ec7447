package selection

import (
	"cmp"
	"slices"

	"dist/core/api"
)

// AutoRelayPercent is the share of targets that get a relay when the push does not ask for a
// number: 3 %, inside the 1–5 % the design aims for, so a relay serves about 33 clients.
const AutoRelayPercent = 3

// RelayCount decides how many relays a distribution gets.
//
// The rule: an explicit request (requested > 0) is honoured up to the number of relays available.
// Otherwise the count is ceil(3 % of targets) and at least 1, so even a small push has a relay that
// shields the origin; it is then capped by the number available. The result is never negative and
// is 0 only when no relay is available (or there is nothing to deliver to).
func RelayCount(targets, requested, available int) int {
	if available <= 0 {
		return 0
	}
	if requested > 0 {
		return min(requested, available)
	}
	if targets <= 0 {
		return 0
	}
	auto := max(1, (targets*AutoRelayPercent+99)/100)
	return min(auto, available)
}

// Candidate is a host that could relay a distribution, with its current load and its history.
type Candidate struct {
	Host      api.Host
	Active    int   // relay tasks it is running now
	Transfers int   // clients it is serving now (connections or HTTP streams)
	UpRate    int64 // bytes/s it is sending now
	// Throughput is the rate (bytes/s) seen from this relay to clients of each site in past
	// distributions; a site it never served is missing.
	Throughput map[string]int64
}

// PickRelays chooses n relays from cands for a distribution going to targets and answers their
// names, best first. See Pick for the rule.
func PickRelays(cands []Candidate, targets []api.Host, n int) []string {
	return Pick(cands, targets, n, nil)
}

// Pick chooses up to n relays from cands for targets, leaving out the hosts in exclude (relays
// already serving the distribution, or one that failed). The choice is greedy, one relay at a time,
// so that several relays spread over the target sites instead of piling into the largest:
//
//  1. locality: the relay whose site still has the most targets without a relay near them (each
//     relay picked is counted as covering its share of the targets), then the same by region;
//  2. load: fewer relay tasks, then fewer transfers, then less upload in flight;
//  3. history: the higher throughput seen from it to the target sites, weighted by their targets;
//  4. name, so the same facts always give the same choice.
func Pick(cands []Candidate, targets []api.Host, n int, exclude []string) []string {
	if n <= 0 || len(cands) == 0 {
		return nil
	}
	perSite, perRegion := map[string]int{}, map[string]int{}
	for _, t := range targets {
		if s := site(t); s != "" {
			perSite[s]++
		}
		if r := region(t); r != "" {
			perRegion[r]++
		}
	}
	// share is how many targets one relay is meant to cover.
	share := max(1, (len(targets)+n-1)/n)
	left := make([]Candidate, 0, len(cands))
	seen := map[string]bool{}
	for _, x := range exclude {
		seen[x] = true
	}
	for _, c := range cands {
		if seen[c.Host.Name] {
			continue // one host relays a distribution once, however often it is listed
		}
		seen[c.Host.Name] = true
		left = append(left, c)
	}
	for _, c := range left {
		for _, rate := range c.Throughput {
			if rate < 0 {
				// The indexed pick relies on history only falling as sites get covered.
				return pickScan(left, perSite, perRegion, share, n)
			}
		}
	}
	return pickIndexed(left, perSite, perRegion, share, n)
}

// pickScan is the plain greedy loop: each step compares every candidate left, O(n × candidates).
// Pick keeps it for negative throughputs, and the tests use it as the oracle of pickIndexed.
func pickScan(left []Candidate, perSite, perRegion map[string]int, share, n int) []string {
	out := make([]string, 0, min(n, len(left)))
	for len(out) < n && len(left) > 0 {
		best := 0
		for i := 1; i < len(left); i++ {
			if better(left[i], left[best], perSite, perRegion) {
				best = i
			}
		}
		c := left[best]
		out = append(out, c.Host.Name)
		left = slices.Delete(left, best, best+1)
		cover(c.Host, perSite, perRegion, share)
	}
	return out
}

// cover counts a picked relay as covering share targets of its site and region.
func cover(h api.Host, perSite, perRegion map[string]int, share int) {
	if s := site(h); s != "" {
		perSite[s] -= share
	}
	if r := region(h); r != "" {
		perRegion[r] -= share
	}
}

// better reports whether a is a better next relay than b.
func better(a, b Candidate, perSite, perRegion map[string]int) bool {
	// An unlabelled relay, or one whose site is covered already, gets no locality credit.
	demand := func(m map[string]int, k string) int {
		if k == "" {
			return 0
		}
		return max(m[k], 0)
	}
	if c := cmp.Compare(demand(perSite, site(a.Host)), demand(perSite, site(b.Host))); c != 0 {
		return c > 0
	}
	if c := cmp.Compare(demand(perRegion, region(a.Host)), demand(perRegion, region(b.Host))); c != 0 {
		return c > 0
	}
	if c := cmp.Compare(a.Active, b.Active); c != 0 {
		return c < 0
	}
	if c := cmp.Compare(a.Transfers, b.Transfers); c != 0 {
		return c < 0
	}
	if c := cmp.Compare(a.UpRate, b.UpRate); c != 0 {
		return c < 0
	}
	if c := cmp.Compare(history(a, perSite), history(b, perSite)); c != 0 {
		return c > 0
	}
	return a.Host.Name < b.Host.Name
}

// history is the throughput a relay has shown to the target sites, weighted by their targets.
func history(c Candidate, perSite map[string]int) int64 {
	var sum int64
	for s, rate := range c.Throughput {
		if n, ok := perSite[s]; ok {
			sum += rate * int64(max(n, 1))
		}
	}
	return sum
}

// Replace picks the relay that takes over from failed for targets, among cands other than the
// distribution's current relays. ok is false when no candidate is left.
func Replace(cands []Candidate, targets []api.Host, current []string, failed string) (string, bool) {
	got := Pick(cands, targets, 1, append(slices.Clone(current), failed))
	if len(got) == 0 {
		return "", false
	}
	return got[0], true
}
