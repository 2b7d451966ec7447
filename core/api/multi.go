package api

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// A fleet that cannot lose its controller runs several of them on one database, each answering
// any host the same: a host knows their addresses and carries on through another when the one it
// uses is not there.
//
// A DNS name with several A (or AAAA) records needs nothing of this file: net.Dialer resolves
// the name at each dial and tries its addresses in order (dialSerial, the dial timeout shared
// among them), so a refused or reset address moves the dial to the next one at once. A
// controller killed while a host holds an HTTP/2 connection to it breaks that connection; the
// host's next call dials the name again and lands on an address that answers. A silent address
// (a machine powered off) costs its share of the dial timeout before the next is tried.

// Back-off of an address that was not there: it is left aside for a jittered, doubling while,
// so that a fleet does not hammer a dead controller, nor come back to it in lockstep.
const (
	FailoverMinBackoff = 250 * time.Millisecond
	FailoverMaxBackoff = 10 * time.Second
)

// NewMulti returns a client for the controllers at bases, tried in that order. Calls stick to
// the address that answers; one that is not there (unreachable, connection reset or refused,
// 502/503/504, a watch broken off) rests for a back-off and the call goes to the next address
// when sending it again is safe (resendable). Any other answer, 4xx included, is the answer.
func NewMulti(bases []string, token string) *Client {
	var bs []string
	for _, b := range bases {
		if b = strings.TrimRight(strings.TrimSpace(b), "/"); b != "" {
			bs = append(bs, b)
		}
	}
	c := New("", token)
	if len(bs) > 0 {
		c.Base = bs[0]
	}
	if len(bs) > 1 {
		c.pool = newPool(bs)
	}
	return c
}

// SplitURLs reads a list of URLs given one per flag or comma-separated (DIST_CONTROLLER=a,b),
// dropping blanks.
func SplitURLs(vs ...string) []string {
	var out []string
	for _, v := range vs {
		for u := range strings.SplitSeq(v, ",") {
			if u = strings.TrimSpace(u); u != "" {
				out = append(out, u)
			}
		}
	}
	return out
}

// Addrs answers the client's controller addresses, the one in use first.
func (c *Client) Addrs() []string {
	if c.pool == nil {
		return []string{c.Base}
	}
	return c.pool.addrs()
}

// pool is the addresses of a client over several controllers and what it learnt of each.
type pool struct {
	bases []string
	now   func() time.Time
	randN func(int64) int64 // jitter: [0, n)

	mu   sync.Mutex
	cur  int // the address calls go to
	good int // the address that answered last; -1: none yet
	rest []rest
	last error // the last failure, for a call that cannot wait for an address to come back
}

// rest is an address's back-off: it failed fails times in a row and is left aside until until.
type rest struct {
	fails int
	until time.Time
}

func newPool(bases []string) *pool {
	return &pool{bases: bases, now: time.Now, randN: rand.Int64N, good: -1, rest: make([]rest, len(bases))}
}

// do runs send against one address after another, each at most once, until one answers or
// sending again is not safe.
func (p *pool) do(ctx context.Context, log *slog.Logger, method, path string, send func(base string) error) error {
	tried := make([]bool, len(p.bases))
	var err error
	for first := true; ; first = false {
		i, wait := p.pick()
		if tried[i] || (wait > 0 && !first) {
			return err // every other address rests: the caller's own back-off paces what follows
		}
		if wait > 0 {
			// Every address rests. Wait for the first one back, unless the call cannot last that long.
			if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
				if err = p.lastErr(); err == nil {
					err = context.DeadlineExceeded
				}
				return err
			}
			if !waitCtx(ctx, wait) {
				return ctx.Err()
			}
		}
		tried[i] = true
		err = send(p.bases[i])
		if err == nil || ctx.Err() != nil {
			if err == nil {
				p.answered(i, log)
			}
			return err
		}
		gone, sent := absent(err)
		if !gone {
			p.answered(i, log) // an answer, a refusal included: the controller is there
			return err
		}
		p.failed(i, err)
		if sent && !resendable(method, path) {
			return err
		}
	}
}

// pick answers the address for the next call: the current one unless it rests, else the next
// one in order that does not, else the one whose rest ends first with how long it still rests.
func (p *pool) pick() (int, time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	n := len(p.bases)
	best := p.cur
	for k := range n {
		i := (p.cur + k) % n
		if !p.rest[i].until.After(now) {
			p.cur = i
			return i, 0
		}
		if p.rest[i].until.Before(p.rest[best].until) {
			best = i
		}
	}
	p.cur = best
	return best, p.rest[best].until.Sub(now)
}

// failed puts address i to rest for a doubling, jittered while and moves calls off it.
func (p *pool) failed(i int, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := &p.rest[i]
	r.fails++
	d := min(FailoverMinBackoff<<min(r.fails-1, 16), FailoverMaxBackoff)
	// Between half and all of d: never shorter than half, so that the next call does not come
	// straight back.
	r.until = p.now().Add(d/2 + time.Duration(p.randN(int64(d/2)+1)))
	p.last = err
	if p.cur == i {
		p.cur = (i + 1) % len(p.bases)
	}
}

// answered notes that address i answered: its back-off ends and calls stay with it. A host that
// carries on through another controller than before says so once.
func (p *pool) answered(i int, log *slog.Logger) {
	p.mu.Lock()
	p.rest[i] = rest{}
	p.cur = i
	from := -1
	if p.good != i {
		from = p.good
	}
	p.good = i
	p.mu.Unlock()
	if from >= 0 && log != nil {
		log.Info("controller changed: carrying on through another", "from", p.bases[from], "to", p.bases[i])
	}
}

func (p *pool) lastErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.last
}

func (p *pool) addrs() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]string, 0, len(p.bases))
	for k := range p.bases {
		out = append(out, p.bases[(p.cur+k)%len(p.bases)])
	}
	return out
}

// absent reports whether err says the controller is not there (gone), and whether the request
// may have reached it (sent).
func absent(err error) (gone, sent bool) {
	var se *StatusError
	if errors.As(err, &se) {
		switch se.Status {
		case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			// A proxy or balancer found no controller behind it, or one that is going; a 504
			// may have reached a controller that then went silent.
			return true, true
		}
		return false, true
	}
	var ut *UntrustedError
	if errors.As(err, &ut) {
		return false, false // a trust problem of this host: another address would be no better
	}
	var ue *UnreachableError
	if !errors.As(err, &ue) {
		return false, false
	}
	return true, !neverConnected(ue.Err)
}

// neverConnected reports whether err failed before any byte of the request left: the dial
// (connection refused, no route, a name that does not resolve) or the proxy's CONNECT. net/http
// itself re-sends on a fresh connection only what is safe to (nothing written yet, or a
// replayable request), so a dial error that ends a request hides no earlier arrival.
func neverConnected(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && (op.Op == "dial" || op.Op == "proxyconnect") {
		return true
	}
	var dns *net.DNSError
	return errors.As(err, &dns)
}

// resendable reports whether a request that may have reached a controller that then went away
// may be sent again to another: the controllers share one database, so a second arrival must
// change nothing the first did not.
//
//   - GET and HEAD read (a watch, peers, metainfo, listings).
//   - POST /v1/hosts registers a host: an upsert of the same row.
//   - POST /v1/report carries the state and the running totals of the host's tasks, not deltas;
//     a second copy says the same again (mode changes are repeated in reports by design).
//   - POST /v1/goodbye marks the host offline; twice is once.
//   - POST /v1/distributions/{id}/cancel: cancelling a cancelled distribution is a no-op.
//   - PUT /v1/distributions/{id}/metainfo: the same metainfo again answers 204 (another, 409).
//   - PUT /v1/origins sets the fields given to the values given.
//   - DELETE /v1/leases/{id}: the first release unbinds the id, a second finds it unknown and
//     answers 204 without charging the bytes again.
//
// Not resendable: POST /v1/distributions (a second push), POST /v1/leases (a second lease that
// would hold a share of the origin until its TTL), POST /v1/leases/{id}/renew (it charges the
// bytes used once more; the lease keeper asks again itself, knowing so), POST /v1/join, tokens.
// Those go to another address only when they never left (neverConnected).
func resendable(method, path string) bool {
	p, _, _ := strings.Cut(path, "?")
	switch method {
	case http.MethodGet, http.MethodHead:
		return true
	case http.MethodPut:
		return p == "/v1/origins" || (strings.HasPrefix(p, "/v1/distributions/") && strings.HasSuffix(p, "/metainfo"))
	case http.MethodDelete:
		return strings.HasPrefix(p, "/v1/leases/")
	case http.MethodPost:
		switch p {
		case "/v1/hosts", "/v1/report", "/v1/goodbye": // goodbye: controller.GoodbyePath
			return true
		}
		return strings.HasPrefix(p, "/v1/distributions/") && strings.HasSuffix(p, "/cancel")
	}
	return false
}
