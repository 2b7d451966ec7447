package cli

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"dist/core/api"
)

// HostsCmd lists the hosts known to the controller.
type HostsCmd struct{}

// Run prints the hosts as a table, or as the API's JSON array.
func (c *HostsCmd) Run(g *Globals) error {
	hs, err := g.API().Hosts(g.Context())
	if err != nil {
		return fmt.Errorf("list hosts: %w", err)
	}
	if g.JSON {
		if hs == nil {
			hs = []api.Host{}
		}
		return g.PrintJSON(hs)
	}
	now := time.Now()
	t := newTable("NAME", "ROLES", "ONLINE", "LAST-SEEN", "HTTP", "BT", "LABELS")
	for _, h := range hs {
		online := "no"
		if h.Online {
			online = "yes"
		}
		t.add(h.Name, strings.Join(api.RoleNames(h.Roles), ","), online, formatAge(h.LastSeen, now), orDash(h.HTTPURL), orDash(h.BTAddr), labels(h.Labels))
		t.style(2, stateStyle(online))
	}
	return t.write(g.Out, g.OutColor())
}

// labels renders a label set as sorted key=value pairs.
func labels(m map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, k+"="+m[k])
	}
	return strings.Join(parts, ",")
}
