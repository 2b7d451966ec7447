package selection

import (
	"cmp"
	"slices"

	"dist/core/api"
)

// PeerCand is a host that could be a peer in a distribution's swarm.
type PeerCand struct {
	Host     api.Host
	Relay    bool // it holds the distribution's relay task
	Complete bool // it has every piece
}

// OrderPeers answers the swarm a host should connect to, best first, at most limit peers (limit <= 0
// means no cap). Self and candidates without a BitTorrent address are dropped. Complete peers come
// first (they can serve any piece), then relays (they receive the file first), then the rest; within
// each class peers in self's site come first (LAN traffic is cheap), then by name. A host listed
// more than once is handed out once, with the union of its flags.
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
			continue
		}
		index[c.Host.Name] = len(merged)
		merged = append(merged, c)
	}
	mySite := site(self)
	slices.SortFunc(merged, func(a, b PeerCand) int {
		if c := cmp.Compare(peerClass(a), peerClass(b)); c != 0 {
			return c
		}
		if c := cmp.Compare(remote(mySite, a.Host), remote(mySite, b.Host)); c != 0 {
			return c
		}
		return cmp.Compare(a.Host.Name, b.Host.Name)
	})
	if limit > 0 && len(merged) > limit {
		merged = merged[:limit]
	}
	out := make([]api.Peer, 0, len(merged))
	for _, c := range merged {
		out = append(out, api.Peer{
			Host:     c.Host.Name,
			BTAddr:   c.Host.BTAddr,
			HTTPURL:  c.Host.HTTPURL,
			Relay:    c.Relay,
			Complete: c.Complete,
		})
	}
	return out
}

// peerClass ranks what a peer can give: 0 complete, 1 relay, 2 any other member.
func peerClass(c PeerCand) int {
	switch {
	case c.Complete:
		return 0
	case c.Relay:
		return 1
	default:
		return 2
	}
}

// remote is 0 when h is in mySite and 1 otherwise; a host without a site label is in no site.
func remote(mySite string, h api.Host) int {
	if mySite != "" && site(h) == mySite {
		return 0
	}
	return 1
}
