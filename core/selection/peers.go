package selection

import (
	"cmp"
	"net"
	"net/netip"
	"slices"
	"sync"

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
	// Each candidate's rank is worked out once, not per comparison, and the candidates are not
	// copied: a tracker answer orders tens of them per ask, in buffers kept for the next one.
	sc := orderPool.Get().(*orderScratch)
	defer sc.put()
	rs, index := sc.rs[:0], sc.index
	for i := range cands {
		c := &cands[i]
		if c.Host.Name == self.Name || c.Host.BTAddr == "" {
			continue
		}
		if j, ok := index[c.Host.Name]; ok {
			rs[j].relay = rs[j].relay || c.Relay
			rs[j].complete = rs[j].complete || c.Complete
			rs[j].pointed = rs[j].pointed || c.Pointed
			continue
		}
		index[c.Host.Name] = len(rs)
		rs = append(rs, ranked{c: c, relay: c.Relay, complete: c.Complete, pointed: c.Pointed})
	}
	near := nearTo(self)
	for i := range rs {
		r := &rs[i]
		r.class = peerClass(PeerCand{Relay: r.relay, Complete: r.complete, Pointed: r.pointed})
		r.dist = near.distance(r.c.Host)
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
	sc.rs = rs
	if limit > 0 && len(rs) > limit {
		rs = rs[:limit]
	}
	out := make([]api.Peer, 0, len(rs))
	for _, r := range rs {
		h := &r.c.Host
		out = append(out, api.Peer{
			Host:     h.Name,
			BTAddr:   addrFor(self, *h),
			HTTPURL:  h.HTTPURL,
			Relay:    r.relay,
			Complete: r.complete,
		})
	}
	return out
}

// ranked is one host of an OrderPeers call: its rank and the union of its listings' flags.
type ranked struct {
	class, dist              int
	c                        *PeerCand // the first listing of the host
	relay, complete, pointed bool
}

// orderScratch is the buffers of one OrderPeers call.
type orderScratch struct {
	rs    []ranked
	index map[string]int
}

// maxPooledOrder bounds the calls whose buffers are kept: a tracker answer's tens of candidates.
const maxPooledOrder = 1024

var orderPool = sync.Pool{New: func() any { return &orderScratch{index: map[string]int{}} }}

// put gives the buffers back holding nothing of the call (no candidate stays reachable). Those of
// a large call are dropped: clearing a large map would cost every later small call.
func (sc *orderScratch) put() {
	if cap(sc.rs) > maxPooledOrder {
		return
	}
	clear(sc.rs)
	sc.rs = sc.rs[:0]
	clear(sc.index)
	orderPool.Put(sc)
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

// near is what ranks how near a peer is to self, worked out once for all the candidates: 0 same
// site and subnet, 1 same site, 2 same subnet, 3 elsewhere (peerDistance). A host without a site
// label is in no site.
type near struct {
	site string
	net  netKey
}

func nearTo(self api.Host) near { return near{site(self), netKeyOf(self)} }

func (n near) distance(h api.Host) int {
	return peerDistance(n.site != "" && site(h) == n.site, n.net.same(netKeyOf(h)))
}

// sameSubnet reports whether a and b share a private network: the same NetworkLabel, or, without
// labels, BitTorrent addresses in one /24 (IPv4) or /64 (IPv6).
func sameSubnet(a, b api.Host) bool { return netKeyOf(a).same(netKeyOf(b)) }

// netKey is what sameSubnet compares of a host, parsed without allocating: its NetworkLabel, else
// its BitTorrent address as net.ParseIP reads it (16 bytes; v4 when it is an IPv4 one).
type netKey struct {
	label  string
	ok, v4 bool
	ip     [16]byte
}

func netKeyOf(h api.Host) netKey {
	k := netKey{label: h.Labels[NetworkLabel]}
	if k.label != "" {
		return k
	}
	host, _, err := net.SplitHostPort(h.BTAddr)
	if err != nil {
		return k
	}
	a, err := netip.ParseAddr(host)
	if err != nil || a.Zone() != "" { // net.ParseIP takes no zone
		return k
	}
	k.ok, k.v4, k.ip = true, a.Is4() || a.Is4In6(), a.As16()
	return k
}

// same is sameSubnet of the two hosts: labels decide when either has one; else both addresses
// must parse, and two IPv4 ones compare by /24, any other pair by the /64 of their 16-byte forms.
func (a netKey) same(b netKey) bool {
	if a.label != "" || b.label != "" {
		return a.label == b.label
	}
	if !a.ok || !b.ok {
		return false
	}
	if a.v4 && b.v4 {
		return a.ip[12] == b.ip[12] && a.ip[13] == b.ip[13] && a.ip[14] == b.ip[14]
	}
	return [8]byte(a.ip[:8]) == [8]byte(b.ip[:8])
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
