package daemon

import (
	"context"
	"net/http"
	"sync"
	"time"

	"dist/core/api"
	"dist/daemon/serve"
)

// members guards this host's content routes when TLS is on: a caller must present a host
// certificate of the fleet and take part in the distribution it asks about, as the controller
// says. The answer is kept, so a host asks once per caller and distribution (its ~50 peers), not
// per request: yes for memberYesFor, no for memberNoFor (a host may join a live distribution).
type members struct {
	api *api.Client
	now func() time.Time

	mu   sync.Mutex
	seen map[[2]string]memberSeen // (distribution, host) → answer
}

type memberSeen struct {
	ok bool
	at time.Time
}

const (
	memberYesFor = 10 * time.Minute
	memberNoFor  = 5 * time.Second
	memberAsk    = 5 * time.Second // bound of one question to the controller
	memberMax    = 100_000         // answers kept; beyond, the oldest half goes
)

func newMembers(c *api.Client) *members {
	return &members{api: c, now: time.Now, seen: map[[2]string]memberSeen{}}
}

// guard answers 401 without a fleet certificate, 403 for a caller not in the distribution dist
// names (404 when dist names none), and otherwise lets next answer. A nil members (plain HTTP, a
// lab) guards nothing.
func (m *members) guard(dist func(r *http.Request) string, next http.HandlerFunc) http.HandlerFunc {
	if m == nil {
		return next
	}
	return func(w http.ResponseWriter, r *http.Request) {
		name := peerName(r)
		if name == "" {
			serve.Error(w, http.StatusUnauthorized, api.CodeUnauthorized, "content is served only to hosts of this fleet: present the host certificate")
			return
		}
		id := dist(r)
		if id == "" {
			serve.Error(w, http.StatusNotFound, api.CodeNotFound, "no task of this host serves "+r.URL.Path)
			return
		}
		ok, err := m.member(r.Context(), id, name)
		if err != nil {
			serve.Error(w, http.StatusServiceUnavailable, api.CodeInternal, "cannot ask the controller whether host "+name+" takes part in distribution "+id+": try again")
			return
		}
		if !ok {
			serve.Error(w, http.StatusForbidden, "forbidden", "host "+name+" takes part in no task of distribution "+id+": content is served only to its members")
			return
		}
		next(w, r)
	}
}

// fleetOnly answers 401 to a caller without a host certificate of the fleet. A published file's
// route uses it: the publisher does not know which distribution its file goes to.
func (m *members) fleetOnly(next http.HandlerFunc) http.HandlerFunc {
	if m == nil {
		return next
	}
	return func(w http.ResponseWriter, r *http.Request) {
		if peerName(r) == "" {
			serve.Error(w, http.StatusUnauthorized, api.CodeUnauthorized, "published files are served only to hosts of this fleet: present the host certificate")
			return
		}
		next(w, r)
	}
}

// member answers whether host takes part in distribution id, from the kept answer or the
// controller.
func (m *members) member(ctx context.Context, id, host string) (bool, error) {
	k, now := [2]string{id, host}, m.now()
	m.mu.Lock()
	s, ok := m.seen[k]
	m.mu.Unlock()
	if ok && ((s.ok && now.Sub(s.at) < memberYesFor) || (!s.ok && now.Sub(s.at) < memberNoFor)) {
		return s.ok, nil
	}
	actx, cancel := context.WithTimeout(ctx, memberAsk)
	defer cancel()
	yes, err := m.api.Member(actx, id, host)
	if err != nil {
		return false, err
	}
	m.mu.Lock()
	if len(m.seen) >= memberMax {
		for key, v := range m.seen {
			if now.Sub(v.at) > memberNoFor {
				delete(m.seen, key)
			}
		}
	}
	m.seen[k] = memberSeen{ok: yes, at: now}
	m.mu.Unlock()
	return yes, nil
}

// peerName answers the host name in the request's verified client certificate, "" without one.
func peerName(r *http.Request) string {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
		return ""
	}
	return r.TLS.VerifiedChains[0][0].Subject.CommonName
}
