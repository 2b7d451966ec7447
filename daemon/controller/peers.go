package controller

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"dist/core/api"
	"dist/core/selection"
)

// maxPeers is how many peers one answer hands out: enough for a healthy swarm, few enough that
// thousands of hosts do not all dial the same complete peers.
const maxPeers = 50

// A wake-up makes a whole fleet ask for peers within a second, and hosts of one site and subnet
// get the same kind of answer: an answer is kept for peersFresh and handed to the others of its
// kind while the distribution's tracker index is unchanged, and for peersStale even when it
// changed: in a push to thousands of hosts the index changes hundreds of times a second, every
// ask then built its answer afresh, and 200 askers at once queued on the cores. An answer a
// quarter of a second old misses only the peers of that quarter second, which the next ask
// brings. peersVariants answers per kind, each drawn apart and picked by the asker's name, keep
// the swarm from all dialling the same peers.
const (
	peersFresh    = time.Second
	peersStale    = 250 * time.Millisecond
	peersVariants = 4
)

// peersEntry is one kept answer: maxPeers+1 peers, so that one without the asker is at hand.
type peersEntry struct {
	at    time.Time
	rev   uint64
	peers []api.Peer
	once  sync.Once
	enc   []byte // the answer of the first maxPeers, encoded once
}

// peers answers GET /v1/distributions/{id}/peers?host=NAME: the tracker. The answer comes from
// memory (the distribution's view and the host index): at most maxPeers candidates are looked up,
// near ones first, and only they are ordered; neither the fleet nor the store is read.
func (s *Server) peers(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	name := queryValue(r.URL.RawQuery, "host")
	if name == "" {
		return badRequest("host is missing: ask as ?host=NAME")
	}
	if err := checkString("host", name, maxNameLen); err != nil {
		return err
	}
	id := r.PathValue("id")
	self, ok, err := s.hostByName(ctx, name)
	if err != nil {
		return err
	}
	if !ok {
		// An unregistered asker still gets peers (ordered without locality): it may have been
		// started before the controller learned of it.
		self = api.Host{Name: name}
	}
	now := s.now()
	online := func(n string) (api.Host, bool) {
		h, ok := s.hosts.get(n)
		return h, ok && s.online(h, now)
	}
	var (
		e     *peersEntry
		key   string
		rev   uint64
		cands []selection.PeerCand
		view  *distView
	)
	subnet := subnetOf(self) // parsed once per ask, for the key and the candidates
	sc := candsPool.Get().(*candScratch)
	// For any host of the kind: nobody is left out here, the asker is at serving time.
	anyone := self
	anyone.Name = ""
	// Lock order: the views, then the hosts; never the other way. The views are shared with other
	// readers and looked at once per ask: under one lock, a wake-up's thousands of asks queued
	// behind each other, and on a busy machine behind every holder the scheduler set aside.
	err = s.readView(ctx, id, func(v *distView) {
		s.hosts.mu.RLock()
		defer s.hosts.mu.RUnlock()
		view = v
		key, rev = peersKey(v, self, subnet, online, now), v.rev.Load()
		if old := v.answer(key); old != nil && !now.Before(old.at) &&
			(old.rev == rev && now.Sub(old.at) < peersFresh || now.Sub(old.at) < peersStale) {
			e = old
		}
		if e == nil {
			cands = v.peerCands(anyone, subnet, self.Name, maxPeers+1, online, now, sc)
		}
	})
	if err != nil {
		sc.put(cands)
		return distErr(id, err) // 404 for an unknown id
	}
	if e != nil {
		sc.put(nil) // a kept answer: no candidates were looked up
	} else {
		// Ordered outside the views' lock; kept for the next asker of its kind.
		e = &peersEntry{at: now, rev: rev, peers: selection.OrderPeers(anyone, cands, maxPeers+1)}
		sc.put(cands)
		if view.rev.Load() == rev { // else changed meanwhile: this answer is for this asker only
			view.keepAnswer(key, e)
		}
	}
	if slices.ContainsFunc(e.peers, func(p api.Peer) bool { return p.Host == name }) { // maxPeers+1: no index needed
		// The asker is in the kept answer: it gets the others.
		out := make([]api.Peer, 0, len(e.peers))
		for _, p := range e.peers {
			if p.Host != name {
				out = append(out, p)
			}
		}
		b := appendPeers(make([]byte, 0, 128*len(out)), out[:min(len(out), maxPeers)])
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(b)
		return nil
	}
	b := e.encoded()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
	return nil
}

// candScratch is the candidates buffer of one peers ask: each candidate carries a whole host, and
// the buffer is used for one ordering only (OrderPeers copies what it keeps).
type candScratch struct {
	cands []selection.PeerCand
	taken map[string]bool
}

var candsPool = sync.Pool{New: func() any {
	return &candScratch{cands: make([]selection.PeerCand, 0, maxPeers+1), taken: make(map[string]bool, maxPeers+2)}
}}

// put gives the buffer back, cands (its buffer, grown) emptied so that it holds no host.
func (sc *candScratch) put(cands []selection.PeerCand) {
	if cands != nil {
		clear(cands)
		sc.cands = cands[:0]
	}
	clear(sc.taken)
	candsPool.Put(sc)
}

// encoded answers the JSON answer of the entry's first maxPeers peers, encoding it once.
func (e *peersEntry) encoded() []byte {
	e.once.Do(func() {
		ps := e.peers[:min(len(e.peers), maxPeers)]
		e.enc = appendPeers(make([]byte, 0, 128*len(ps)), ps)
	})
	return e.enc
}

// appendPeers appends what json.NewEncoder(w).Encode(api.Peers{Peers: ps}) writes, newline
// included: a peers answer is most of a push's tracker work, and encoding/json's reflection on
// each of them cost more than choosing them.
func appendPeers(b []byte, ps []api.Peer) []byte {
	if ps == nil {
		return append(b, `{"peers":null}`+"\n"...)
	}
	b = append(b, `{"peers":[`...)
	for i, p := range ps {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"host":`...)
		b = appendJSONString(b, p.Host)
		b = append(b, `,"bt_addr":`...)
		b = appendJSONString(b, p.BTAddr)
		if p.HTTPURL != "" {
			b = append(b, `,"http_url":`...)
			b = appendJSONString(b, p.HTTPURL)
		}
		if p.Relay {
			b = append(b, `,"relay":true`...)
		}
		if p.Complete {
			b = append(b, `,"complete":true`...)
		}
		b = append(b, '}')
	}
	return append(b, "]}\n"...)
}

// appendJSONString appends s as encoding/json writes it. Names, addresses and URLs are plain
// ASCII and go as they are; anything json would escape (quotes, controls, <, >, &, non-ASCII) is
// left to json itself.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always encodes
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// peersKey names the kind of answer self gets: its site, subnet (subnetOf(self)) and the relay it
// is pointed at decide what OrderPeers ranks first, and its name picks one of the variants. v's
// lock is held.
func peersKey(v *distView, self api.Host, subnet string, online func(string) (api.Host, bool), now time.Time) string {
	return self.Labels[selection.SiteLabel] + "|" + subnet + "|" + v.pointed(self.Name, online, now) +
		"|" + strconv.Itoa(int(fnv32a(self.Name)%peersVariants))
}

// fnv32a is hash/fnv's 32-bit FNV-1a of s, without a hash.Hash to allocate per ask.
func fnv32a(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return h
}
