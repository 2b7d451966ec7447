package controller

import (
	"net/http"
	"strings"

	"dist/core/api"
)

// selectAll is the selector that matches every host.
const selectAll = "all"

// matches reports whether selector sel picks host h: "all", "key=value" on its labels, or its
// exact name.
func matches(sel string, h api.Host) bool {
	if sel == selectAll {
		return true
	}
	if k, v, ok := strings.Cut(sel, "="); ok {
		got, has := h.Labels[k]
		return has && got == v
	}
	return h.Name == sel
}

// cleanSelectors trims the selectors and drops empty ones.
func cleanSelectors(to []string) ([]string, error) {
	out := make([]string, 0, len(to))
	for _, sel := range to {
		sel = strings.TrimSpace(sel)
		if sel == "" {
			continue
		}
		if k, _, ok := strings.Cut(sel, "="); ok && k == "" {
			return nil, badRequest("selector %q has no label name: use key=value, a host name or all", sel)
		}
		out = append(out, sel)
	}
	if len(out) == 0 {
		return nil, badRequest("no target given: name hosts with --to (a host name, key=value or all)")
	}
	return out, nil
}

// targets answers the hosts holding the client role that match any selector, in the order of
// hosts. Every selector must match at least one such host: a typo must not silently shrink a push.
func targets(selectors []string, hosts []api.Host) ([]api.Host, error) {
	picked := make([]bool, len(hosts))
	for _, sel := range selectors {
		anyHost, anyClient := false, false
		for i, h := range hosts {
			if !matches(sel, h) {
				continue
			}
			anyHost = true
			if h.HasRole(api.RoleClient) {
				anyClient = true
				picked[i] = true
			}
		}
		switch {
		case !anyHost:
			return nil, errorf(http.StatusUnprocessableEntity, api.CodeNoTargets,
				"no host matches selector %q: see dist hosts", sel)
		case !anyClient:
			return nil, errorf(http.StatusUnprocessableEntity, api.CodeNoTargets,
				"no host matching selector %q holds the client role: see dist hosts, start daemons with --role client", sel)
		}
	}
	var out []api.Host
	for i, h := range hosts {
		if picked[i] {
			out = append(out, h)
		}
	}
	return out, nil
}
