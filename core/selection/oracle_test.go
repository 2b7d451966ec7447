package selection

import (
	"cmp"
	"slices"

	"dist/core/api"
)

// pointScan is the plain Point: every client against every relay, O(clients × relays). It is the
// oracle of the indexed Point.
//
// It assigns every client to one of the relays: a relay of the client's site when there is one,
// else of its region, else any; among those the one with the fewest clients so far, then by name.
// Clients are taken in name order so the same facts give the same answer. When a relay fails and is
// dropped from relays, pointing again moves its clients to the others. The answer maps a client's
// name to its relay's name; it is empty when there is no relay.
func pointScan(relays, clients []api.Host) map[string]string {
	out := make(map[string]string, len(clients))
	if len(relays) == 0 {
		return out
	}
	rs := slices.Clone(relays)
	slices.SortFunc(rs, func(a, b api.Host) int { return cmp.Compare(a.Name, b.Name) })
	cs := slices.Clone(clients)
	slices.SortFunc(cs, func(a, b api.Host) int { return cmp.Compare(a.Name, b.Name) })
	// Labels are read once per host and loads kept by index: this runs for every client of a
	// distribution against every relay, tens of thousands by hundreds.
	rsite, rregion := make([]string, len(rs)), make([]string, len(rs))
	for i, r := range rs {
		rsite[i], rregion[i] = site(r), region(r)
	}
	load := make([]int, len(rs))
	for _, c := range cs {
		cs, cr := site(c), region(c)
		near := func(i int) int {
			switch {
			case cs != "" && rsite[i] == cs:
				return 0
			case cr != "" && rregion[i] == cr:
				return 1
			}
			return 2
		}
		best, bestNear := 0, near(0)
		for i := 1; i < len(rs); i++ {
			n := near(i)
			if c := cmp.Or(cmp.Compare(n, bestNear), cmp.Compare(load[i], load[best])); c < 0 {
				best, bestNear = i, n
			}
		}
		out[c.Name] = rs[best].Name
		load[best]++
	}
	return out
}
