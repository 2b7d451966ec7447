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

// Candidate is a host that could relay a distribution, with its current load.
type Candidate struct {
	Host   api.Host
	Active int // relay tasks it is running now
}

// PickRelays chooses n relays from cands for a distribution going to targets and answers their
// names. Relays in the site where most targets live come first (their clients fetch over the LAN),
// then the least loaded, then by name so the same facts always give the same choice.
func PickRelays(cands []Candidate, targets []api.Host, n int) []string {
	if n <= 0 || len(cands) == 0 {
		return nil
	}
	perSite := map[string]int{}
	for _, t := range targets {
		if s := site(t); s != "" {
			perSite[s]++
		}
	}
	sorted := slices.Clone(cands)
	slices.SortStableFunc(sorted, func(a, b Candidate) int {
		// perSite[""] is 0: a relay without a site label is never preferred for locality.
		if c := cmp.Compare(perSite[site(b.Host)], perSite[site(a.Host)]); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Active, b.Active); c != 0 {
			return c
		}
		return cmp.Compare(a.Host.Name, b.Host.Name)
	})
	out := make([]string, 0, min(n, len(sorted)))
	seen := map[string]bool{}
	for _, c := range sorted {
		if len(out) == n {
			break
		}
		if seen[c.Host.Name] {
			continue // one host relays a distribution once, however often it is listed
		}
		seen[c.Host.Name] = true
		out = append(out, c.Host.Name)
	}
	return out
}
