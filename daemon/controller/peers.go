package controller

import (
	"encoding/json"
	"hash/fnv"
	"net/http"
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
// kind while the distribution's tracker index is unchanged. peersVariants answers per kind, each
// drawn apart and picked by the asker's name, keep the swarm from all dialling the same peers.
const (
	peersFresh    = time.Second
	peersVariants = 4
)

// peersEntry is one kept answer: maxPeers+1 peers, so that one without the asker is at hand.
type peersEntry struct {
	at    time.Time
	rev   uint64
	peers []api.Peer
	names map[string]bool
	once  sync.Once
	enc   []byte // the answer of the first maxPeers, encoded once
}

// peers answers GET /v1/distributions/{id}/peers?host=NAME: the tracker. The answer comes from
// memory (the distribution's view and the host index): at most maxPeers candidates are looked up,
// near ones first, and only they are ordered; neither the fleet nor the store is read.
func (s *Server) peers(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	name := r.URL.Query().Get("host")
	if name == "" {
		return badRequest("host is missing: ask as ?host=NAME")
	}
	if err := checkString("host", name, maxNameLen); err != nil {
		return err
	}
	id := r.PathValue("id")
	if _, err := s.distHead(ctx, id); err != nil { // 404 for an unknown id; builds the view once
		return err
	}
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
	)
	// For any host of the kind: nobody is left out here, the asker is at serving time.
	anyone := self
	anyone.Name = ""
	// Lock order: the views, then the hosts; never the other way.
	err = s.withView(ctx, id, func(v *distView) {
		s.hosts.mu.RLock()
		defer s.hosts.mu.RUnlock()
		key, rev = peersKey(v, self, online, now), v.rev
		if old := v.answers[key]; old != nil && old.rev == v.rev && now.Sub(old.at) < peersFresh && !now.Before(old.at) {
			e = old
			return
		}
		cands = v.peerCands(anyone, self.Name, maxPeers+1, online, now)
	})
	if err != nil {
		return err
	}
	if e == nil {
		// Ordered outside the views' lock; kept for the next asker of its kind.
		e = &peersEntry{at: now, rev: rev, peers: selection.OrderPeers(anyone, cands, maxPeers+1)}
		e.names = make(map[string]bool, len(e.peers))
		for _, p := range e.peers {
			e.names[p.Host] = true
		}
		_ = s.withView(ctx, id, func(v *distView) {
			if v.rev != rev {
				return // changed meanwhile: this answer is for this asker only
			}
			if v.answers == nil || len(v.answers) > 4096 {
				v.answers = map[string]*peersEntry{}
			}
			v.answers[key] = e
		})
	}
	if e.names[name] {
		// The asker is in the kept answer: it gets the others.
		out := make([]api.Peer, 0, len(e.peers))
		for _, p := range e.peers {
			if p.Host != name {
				out = append(out, p)
			}
		}
		writeJSON(w, http.StatusOK, api.Peers{Peers: out[:min(len(out), maxPeers)]})
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

// encoded answers the JSON answer of the entry's first maxPeers peers, encoding it once.
func (e *peersEntry) encoded() []byte {
	e.once.Do(func() {
		b, err := json.Marshal(api.Peers{Peers: e.peers[:min(len(e.peers), maxPeers)]})
		if err == nil {
			e.enc = append(b, '\n')
		}
	})
	return e.enc
}

// peersKey names the kind of answer self gets: its site, subnet and the relay it is pointed at
// decide what OrderPeers ranks first, and its name picks one of the variants. v's lock is held.
func peersKey(v *distView, self api.Host, online func(string) (api.Host, bool), now time.Time) string {
	h := fnv.New32a()
	_, _ = h.Write([]byte(self.Name))
	return self.Labels[selection.SiteLabel] + "|" + subnetOf(self) + "|" + v.pointed(self.Name, online, now) +
		"|" + strconv.Itoa(int(h.Sum32()%peersVariants))
}
