package selection

import (
	"cmp"
	"net"
	"slices"

	"dist/core/api"
)

// PeerCand is a host that could be a peer in a distribution's swarm.
type PeerCand struct {
	Host     api.Host
	Relay    bool // it holds the distribution's relay task
	Complete bool // it has every piece
	Pointed  bool // the relay the asking host is pointed at (see Point): first among relays
}

// Labels that describe a host's private network. A host with NetworkLabel and InternalAddrLabel is
// reached at its internal BitTorrent address by peers with the same NetworkLabel, and at its
// advertised (external) address by everyone else.
const (
	NetworkLabel      = "private-net"
	InternalAddrLabel = "internal-addr"
)

// OrderPeers answers the swarm a host should connect to, best first, at most limit peers (limit <= 0
// means no cap). Self and candidates without a BitTorrent address are dropped. Complete peers come
// first (they can serve any piece), then relays (they receive the file first; the one self is pointed
// at first), then the rest; within each class peers near self come first (LAN traffic is cheap):
// same site and same subnet, then same site, then same subnet, then the others; then by name. A
// peer inside self's private network is handed out at its internal address. A host listed more
// than once is handed out once, with the union of its flags.
func OrderPeers(self api.Host, cands []PeerCand, limit int) []api.Peer {
	merged := make([]PeerCand, 0, len(cands))
	index := map[string]int{}
	for _, c := range cands {
		if c.Host.Name == self.Name || c.Host.BTAddr == "" {
			continue
		}
		if i, ok := index[c.Host.Name]; ok {
			merged[i].Relay = merged[i].Relay || c.Relay
			merged[i].Complete = merged[i].Complete || c.Complete
			merged[i].Pointed = merged[i].Pointed || c.Pointed
			continue
		}
		index[c.Host.Name] = len(merged)
		merged = append(merged, c)
	}
	// Each candidate's rank is worked out once (distance parses addresses), not per comparison.
	type ranked struct {
		class, dist int
		c           *PeerCand
	}
	rs := make([]ranked, len(merged))
	for i := range merged {
		rs[i] = ranked{peerClass(merged[i]), distance(self, merged[i].Host), &merged[i]}
	}
	slices.SortFunc(rs, func(a, b ranked) int {
		if c := cmp.Compare(a.class, b.class); c != 0 {
			return c
		}
		if c := cmp.Compare(a.dist, b.dist); c != 0 {
			return c
		}
		return cmp.Compare(a.c.Host.Name, b.c.Host.Name)
	})
	if limit > 0 && len(rs) > limit {
		rs = rs[:limit]
	}
	out := make([]api.Peer, 0, len(rs))
	for _, r := range rs {
		c := r.c
		out = append(out, api.Peer{
			Host:     c.Host.Name,
			BTAddr:   addrFor(self, c.Host),
			HTTPURL:  c.Host.HTTPURL,
			Relay:    c.Relay,
			Complete: c.Complete,
		})
	}
	return out
}

// peerClass ranks what a peer can give: 0 complete, 1 the relay self is pointed at, 2 other relays,
// 3 any other member.
func peerClass(c PeerCand) int {
	switch {
	case c.Complete:
		return 0
	case c.Relay && c.Pointed:
		return 1
	case c.Relay:
		return 2
	default:
		return 3
	}
}

// distance ranks how near h is to self: 0 same site and subnet, 1 same site, 2 same subnet, 3
// elsewhere. A host without a site label is in no site.
func distance(self, h api.Host) int {
	sameSite := site(self) != "" && site(h) == site(self)
	sameNet := sameSubnet(self, h)
	switch {
	case sameSite && sameNet:
		return 0
	case sameSite:
		return 1
	case sameNet:
		return 2
	}
	return 3
}

// sameSubnet reports whether a and b share a private network: the same NetworkLabel, or, without
// labels, BitTorrent addresses in one /24 (IPv4) or /64 (IPv6).
func sameSubnet(a, b api.Host) bool {
	na, nb := a.Labels[NetworkLabel], b.Labels[NetworkLabel]
	if na != "" || nb != "" {
		return na == nb
	}
	ia, ib := addrIP(a.BTAddr), addrIP(b.BTAddr)
	if ia == nil || ib == nil {
		return false
	}
	if a4, b4 := ia.To4(), ib.To4(); a4 != nil && b4 != nil {
		return a4.Mask(net.CIDRMask(24, 32)).Equal(b4.Mask(net.CIDRMask(24, 32)))
	}
	return ia.Mask(net.CIDRMask(64, 128)).Equal(ib.Mask(net.CIDRMask(64, 128)))
}

func addrIP(addr string) net.IP {
	h, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil
	}
	return net.ParseIP(h)
}

// addrFor answers the address self should dial h at: h's internal address when both sit in the
// same labelled private network, its advertised one otherwise.
func addrFor(self, h api.Host) string {
	in := h.Labels[InternalAddrLabel]
	if in != "" && h.Labels[NetworkLabel] != "" && h.Labels[NetworkLabel] == self.Labels[NetworkLabel] {
		return in
	}
	return h.BTAddr
}
