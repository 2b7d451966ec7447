package selection

import (
	"cmp"
	"net"
	"slices"

	"dist/core/api"
)

// PeerIndex answers what OrderPeers answers over a whole swarm without sorting the swarm per ask:
// its members are kept by class (complete, relay, other), each class by site and subnet, every
// list in name order, so an ask walks the lists in OrderPeers' order and stops at limit. An ask
// costs O(limit) (plus the names it must skip, fewer than limit per class), whatever the swarm's
// size. It is built once per state of the swarm and not changed after; it is safe for
// concurrent asks.
type PeerIndex struct {
	classes [3]peerLists // complete, relay (not complete), other
}

type peerLists struct {
	all          []*peerEntry
	bySite       map[string][]*peerEntry
	bySubnet     map[string][]*peerEntry
	bySiteSubnet map[[2]string][]*peerEntry
}

type peerEntry struct {
	c            PeerCand
	site, subnet string
	in, net      string // its InternalAddrLabel and NetworkLabel, read once (see addrFor)
}

// NewPeerIndex indexes a swarm. As in OrderPeers, candidates without a BitTorrent address are
// left out and a host listed more than once is kept once with the union of its flags; Pointed is
// ignored (the pointed relay is named per ask).
func NewPeerIndex(cands []PeerCand) *PeerIndex {
	merged := make([]PeerCand, 0, len(cands))
	at := make(map[string]int, len(cands))
	for _, c := range cands {
		if c.Host.BTAddr == "" {
			continue
		}
		if i, ok := at[c.Host.Name]; ok {
			merged[i].Relay = merged[i].Relay || c.Relay
			merged[i].Complete = merged[i].Complete || c.Complete
			continue
		}
		at[c.Host.Name] = len(merged)
		c.Pointed = false
		merged = append(merged, c)
	}
	slices.SortFunc(merged, func(a, b PeerCand) int { return cmp.Compare(a.Host.Name, b.Host.Name) })
	x := &PeerIndex{}
	for i := range x.classes {
		x.classes[i] = peerLists{bySite: map[string][]*peerEntry{}, bySubnet: map[string][]*peerEntry{},
			bySiteSubnet: map[[2]string][]*peerEntry{}}
	}
	for _, c := range merged {
		e := &peerEntry{c: c, site: site(c.Host), subnet: SubnetKey(c.Host),
			in: c.Host.Labels[InternalAddrLabel], net: c.Host.Labels[NetworkLabel]}
		l := &x.classes[indexClass(c)]
		l.all = append(l.all, e)
		if e.site != "" {
			l.bySite[e.site] = append(l.bySite[e.site], e)
		}
		if e.subnet != "" {
			l.bySubnet[e.subnet] = append(l.bySubnet[e.subnet], e)
		}
		if e.site != "" && e.subnet != "" {
			k := [2]string{e.site, e.subnet}
			l.bySiteSubnet[k] = append(l.bySiteSubnet[k], e)
		}
	}
	return x
}

func indexClass(c PeerCand) int {
	switch {
	case c.Complete:
		return 0
	case c.Relay:
		return 1
	}
	return 2
}

// Len answers the number of hosts indexed.
func (x *PeerIndex) Len() int {
	n := 0
	for _, l := range x.classes {
		n += len(l.all)
	}
	return n
}

// Peers answers OrderPeers(self, cands, limit) for the indexed cands with Pointed set on the
// relay named pointed (if any): complete peers, the pointed relay, other relays, the rest; in each
// class nearest first, then by name; at most limit (limit <= 0: all).
func (x *PeerIndex) Peers(self api.Host, pointed string, limit int) []api.Peer {
	ss, sn, selfNet := site(self), SubnetKey(self), self.Labels[NetworkLabel]
	n := x.Len()
	if limit > 0 {
		n = min(n, limit)
	}
	out := make([]api.Peer, 0, n)
	full := func() bool { return limit > 0 && len(out) >= limit }
	emit := func(e *peerEntry) {
		addr := e.c.Host.BTAddr // addrFor, from the labels read at build
		if e.in != "" && e.net != "" && e.net == selfNet {
			addr = e.in
		}
		out = append(out, api.Peer{Host: e.c.Host.Name, BTAddr: addr, HTTPURL: e.c.Host.HTTPURL,
			Relay: e.c.Relay, Complete: e.c.Complete})
	}
	walk := func(l *peerLists, skipPointed bool) {
		// Distance 0: same site and subnet; 1: same site; 2: same subnet; 3: the rest.
		lists := [4][]*peerEntry{}
		if ss != "" && sn != "" {
			lists[0] = l.bySiteSubnet[[2]string{ss, sn}]
		}
		if ss != "" {
			lists[1] = l.bySite[ss]
		}
		if sn != "" {
			lists[2] = l.bySubnet[sn]
		}
		lists[3] = l.all
		for d, list := range lists {
			for _, e := range list {
				if full() {
					return
				}
				if e.c.Host.Name == self.Name || (skipPointed && e.c.Host.Name == pointed) {
					continue
				}
				sameSite, sameNet := ss != "" && e.site == ss, sn != "" && e.subnet == sn
				if peerDistance(sameSite, sameNet) != d {
					continue
				}
				emit(e)
			}
		}
	}
	walk(&x.classes[0], false)
	// The pointed relay, if it is a relay still receiving, comes right after the complete peers.
	relays := &x.classes[1]
	hasPointed := false
	if pointed != "" && pointed != self.Name && !full() {
		if i, ok := slices.BinarySearchFunc(relays.all, pointed, func(e *peerEntry, n string) int {
			return cmp.Compare(e.c.Host.Name, n)
		}); ok {
			emit(relays.all[i])
			hasPointed = true
		}
	}
	walk(relays, hasPointed)
	walk(&x.classes[2], false)
	return out
}

func peerDistance(sameSite, sameNet bool) int {
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

// SubnetKey names h's private network as OrderPeers judges nearness: its NetworkLabel, else the
// /24 (IPv4) or /64 (IPv6) of its BitTorrent address; "" when it has neither (near no one).
func SubnetKey(h api.Host) string {
	if n := h.Labels[NetworkLabel]; n != "" {
		return "net:" + n
	}
	ip := addrIP(h.BTAddr)
	if ip == nil {
		return ""
	}
	if ip4 := ip.To4(); ip4 != nil {
		return "4:" + ip4.Mask(net.CIDRMask(24, 32)).String()
	}
	return "6:" + ip.Mask(net.CIDRMask(64, 128)).String()
}
