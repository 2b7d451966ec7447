// Package selection holds the controller's placement policies: how many relays a distribution gets,
// which hosts they are, and in which order a host is handed its peers. Everything here is pure: the
// controller gathers the facts (hosts, load, assignment states) and these functions decide.
package selection

import "dist/core/api"

// SiteLabel is the host label that names a host's location. Hosts of one site share a LAN, so
// traffic between them is cheap and fast; the policies prefer it.
const SiteLabel = "site"

// RegionLabel names a group of sites close to each other: a relay of another site in the targets'
// region is the next best thing to one in their site.
const RegionLabel = "region"

// site returns h's site label, "" when it has none.
func site(h api.Host) string { return h.Labels[SiteLabel] }

// region returns h's region label, "" when it has none.
func region(h api.Host) string { return h.Labels[RegionLabel] }
