package lease

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"dist/core/api"
	"dist/core/fetch"
)

// Controller is what a Gate needs of the controller API; *api.Client has it.
type Controller interface {
	AcquireLease(ctx context.Context, r api.LeaseRequest) (api.LeaseAnswer, error)
	RenewLease(ctx context.Context, id string, r api.LeaseRenew) (api.LeaseAnswer, error)
	ReleaseLease(ctx context.Context, id string, used int64) error
}

// Phases a Gate is in, for people.
const (
	PhaseIdle        = "idle"                     // nobody wants the origin
	PhaseWaiting     = "waiting for origin quota" // asked, not granted (Reason says why)
	PhaseLeased      = "leased"                   // fetching under a lease
	PhaseUnreachable = "waiting for the controller: no origin lease without it"
)

// Request sizes: a request should take about a sixteenth of a lease period at the lease's rate per
// connection, so that draining before a renewal is short, within these bounds.
const (
	minRequest     = 16 << 10
	maxRequest     = 8 << 20
	defaultRequest = 1 << 20 // before the first lease
)

// Config describes a Gate.
type Config struct {
	Controller Controller
	Origin     string // the source URL (or its origin key)
	Holder     string // this host's name; one lease per holder and origin
	Relay      bool   // relays are served before clients
	Conns      int    // connections wanted; 0: as many as the share allows
	Bandwidth  float64
	Priority   float64
	History    float64
	Idle       time.Duration // a lease nobody used this long is released at its next renewal; default 1 s
	Logger     *slog.Logger
}

// State is what a Gate is doing, for progress reports and people.
type State struct {
	Origin string    `json:"origin"`
	Phase  string    `json:"phase"`
	Reason string    `json:"reason,omitempty"`
	Lease  api.Lease `json:"lease,omitzero"`
	InUse  int       `json:"in_use"` // requests in flight
	Bytes  int64     `json:"bytes"`  // bytes admitted since the Gate was made
}

// sizedKey marks the context of a caller that sizes its requests by RequestSize (a fetch.Sizer user).
type sizedKey struct{}

// ErrClosed is returned by a closed Gate.
var ErrClosed = errors.New("origin gate closed")

// Gate admits requests to one origin under a controller lease. It implements fetch.Gate and the
// optional fetch.ConnContexter, fetch.Observer, fetch.Sizer and fetch.Refunder.
type Gate struct {
	cfg Config
	log *slog.Logger

	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every change of the fields below
	closed  bool
	running bool
	wg      sync.WaitGroup
	stop    chan struct{}

	lease      *api.Lease
	ttl        time.Duration
	askedAt    time.Time // when the current grant was asked for, on our clock
	validUntil time.Time // askedAt + ttl: the lease is void from here
	draining   bool      // no new request until the renewal is answered
	wantRenew  bool      // a caller waits for bytes: renew early
	inflight   int       // connections taken
	parked     int       // of those, callers in Wait: nothing sent yet
	waiting    int       // callers blocked in Conn
	left       int64     // bytes left until the next renewal; -1: not capped
	used       int64     // bytes charged since the grant or the last renewal
	pending    int64     // of those, charged to callers still waiting for tokens
	total      int64
	limiter    *rate.Limiter
	reqSize    int64
	lastBusy   time.Time
	retryAt    time.Time // no acquire before this, after a refused renewal
	gen        int       // counts grants and drops: what was charged under which
	phase      string
	reason     string
	slots      map[int]context.CancelFunc
	nextSlot   int

	fb     api.OriginFeedback
	latSum time.Duration
	latN   int
}

var (
	_ fetch.Gate          = (*Gate)(nil)
	_ fetch.ConnContexter = (*Gate)(nil)
	_ fetch.Observer      = (*Gate)(nil)
	_ fetch.Sizer         = (*Gate)(nil)
	_ fetch.Refunder      = (*Gate)(nil)
)

// New returns a Gate; it asks for a lease on first use.
func New(cfg Config) *Gate {
	if cfg.Idle <= 0 {
		cfg.Idle = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Gate{
		cfg: cfg, log: cfg.Logger.With("origin", cfg.Origin), changed: make(chan struct{}), stop: make(chan struct{}),
		reqSize: defaultRequest, phase: PhaseIdle, slots: map[int]context.CancelFunc{},
	}
}

// signal wakes everyone waiting for a change; g.mu is held.
func (g *Gate) signal() {
	close(g.changed)
	g.changed = make(chan struct{})
}

// start runs the lease keeper if it is not running; g.mu is held.
func (g *Gate) start() {
	if g.running || g.closed {
		return
	}
	g.running = true
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		g.keep()
	}()
}

// Conn takes a connection; see ConnContext.
func (g *Gate) Conn(ctx context.Context) (func(), error) {
	_, release, err := g.ConnContext(ctx)
	return release, err
}

// ConnContext blocks until the lease allows one more request in flight. The returned context ends
// with ctx, or when the lease is about to expire unrenewed; release gives the connection back.
func (g *Gate) ConnContext(ctx context.Context) (context.Context, func(), error) {
	g.mu.Lock()
	g.waiting++
	g.start()
	for {
		if g.closed {
			g.waiting--
			g.mu.Unlock()
			return ctx, nil, fmt.Errorf("origin %s: %w", g.cfg.Origin, ErrClosed)
		}
		if g.lease != nil && !g.draining && g.inflight < g.lease.Conns {
			break
		}
		ch := g.changed
		g.mu.Unlock()
		select {
		case <-ctx.Done():
			g.mu.Lock()
			g.waiting--
			g.mu.Unlock()
			return ctx, nil, ctx.Err()
		case <-ch:
		}
		g.mu.Lock()
	}
	g.waiting--
	g.inflight++
	rctx, cancel := context.WithCancel(context.WithValue(ctx, sizedKey{}, true))
	id := g.nextSlot
	g.nextSlot++
	g.slots[id] = cancel
	g.mu.Unlock()
	var once sync.Once
	return rctx, func() {
		once.Do(func() {
			cancel()
			g.mu.Lock()
			delete(g.slots, id)
			g.inflight--
			g.lastBusy = time.Now()
			g.signal()
			g.mu.Unlock()
		})
	}, nil
}

// Wait blocks until n more bytes may be fetched: the lease's byte counter has them and the token
// bucket lets them through. Call it with a connection taken, before sending the request. It answers
// an error wrapping fetch.ErrRetry when the caller must give its connection back and ask again.
func (g *Gate) Wait(ctx context.Context, n int) error {
	if n <= 0 {
		return nil
	}
	need := int64(n)
	g.mu.Lock()
	for {
		switch {
		case g.closed:
			g.mu.Unlock()
			return fmt.Errorf("origin %s: %w", g.cfg.Origin, ErrClosed)
		case g.lease == nil || g.inflight > g.lease.Conns || (g.lease.Bytes >= 0 && need > g.lease.Bytes) ||
			(ctx.Value(sizedKey{}) != nil && need > g.reqSize):
			// Lost, shrunk, or a request larger than the lease allows at all; or one sized for
			// another lease (it would wait too long for its tokens): ask again, sized anew.
			g.mu.Unlock()
			return fmt.Errorf("origin %s: %w", g.cfg.Origin, fetch.ErrRetry)
		case !g.draining && (g.left < 0 || g.left >= need):
			return g.pace(ctx, need)
		}
		if !g.draining && !g.wantRenew {
			g.wantRenew = true
			g.signal()
		}
		g.parked++
		ch := g.changed
		g.mu.Unlock()
		select {
		case <-ctx.Done():
			g.mu.Lock()
			g.parked--
			g.signal()
			g.mu.Unlock()
			return ctx.Err()
		case <-ch:
		}
		g.mu.Lock()
		g.parked--
	}
}

// pace charges need bytes and waits for the token bucket; g.mu is held and released. A caller
// waiting for tokens has sent nothing yet: a drain does not wait for it, and a renewal does not
// report its bytes as used. Once through, it waits for a drain under way to end, and if the lease
// was renewed or replaced meanwhile it charges the new one.
func (g *Gate) pace(ctx context.Context, need int64) error {
	if g.left >= 0 {
		g.left -= need
	}
	g.used += need
	g.pending += need
	g.total += need
	gen, lim := g.gen, g.limiter
	g.parked++
	g.mu.Unlock()
	err := waitTokens(ctx, lim, int(need))
	g.mu.Lock()
	defer g.mu.Unlock()
	defer g.signal()
	defer func() { g.parked-- }()
	if err != nil {
		g.refund(gen, need)
		return err
	}
	for {
		switch {
		case g.closed:
			return fmt.Errorf("origin %s: %w", g.cfg.Origin, ErrClosed)
		case g.gen == gen && !g.draining:
			g.pending -= need
			return nil
		case g.gen != gen && (g.lease == nil || g.inflight > g.lease.Conns || (g.lease.Bytes >= 0 && need > g.lease.Bytes)):
			g.total -= need
			return fmt.Errorf("origin %s: %w", g.cfg.Origin, fetch.ErrRetry)
		case g.gen != gen && !g.draining && (g.left < 0 || g.left >= need):
			// The charge lapsed with the lease it was made under: charge the new one.
			if g.left >= 0 {
				g.left -= need
			}
			g.used += need
			return nil
		case g.gen != gen && !g.draining && !g.wantRenew:
			g.wantRenew = true
			g.signal()
		}
		ch := g.changed
		g.mu.Unlock()
		select {
		case <-ctx.Done():
			err = ctx.Err()
		case <-ch:
		}
		g.mu.Lock()
		if err != nil {
			g.refund(gen, need)
			return err
		}
	}
}

// waitTokens takes n tokens from lim (nil: no rate cap) in pieces no larger than its burst.
func waitTokens(ctx context.Context, lim *rate.Limiter, n int) error {
	for lim != nil && n > 0 {
		k := min(n, max(lim.Burst(), 1))
		if err := lim.WaitN(ctx, k); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			continue // the burst changed under us
		}
		n -= k
	}
	return nil
}

// Observe records an answer of the origin, reported to the controller at the next renewal.
func (g *Gate) Observe(status int, latency time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.fb.Answers++
	if status <= 0 || status == http.StatusTooManyRequests || status >= 500 {
		g.fb.Trouble++
		g.fb.Status = status
		return
	}
	g.latSum += latency
	g.latN++
}

// Refund gives back n bytes that Wait admitted and the origin did not send (an error answer, the
// rest of a body it ended short), so failed attempts do not spend the origin's byte budget. Call it
// holding the connection of the request: a renewal waits for connections to be given back, so the
// bytes are still counted under the grant that charged them and the renewal reports them unused.
// Without a lease (closed, lost) there is nothing to give back to; only the total is corrected.
func (g *Gate) Refund(n int) {
	if n <= 0 {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	k := int64(n)
	if g.lease != nil {
		// Never more than was charged and sent under this grant.
		k = min(k, max(g.used-g.pending, 0))
		if g.left >= 0 {
			g.left += k
		}
		g.used -= k
	}
	g.total -= min(int64(n), g.total)
	g.signal()
}

// RequestSize is the largest request the lease suits.
func (g *Gate) RequestSize() int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.reqSize
}

// State describes the Gate now.
func (g *Gate) State() State {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := State{Origin: g.cfg.Origin, Phase: g.phase, Reason: g.reason, InUse: g.inflight, Bytes: g.total}
	if g.lease != nil {
		s.Lease = *g.lease
	}
	return s
}

// Close stops the Gate: callers waiting get ErrClosed, requests in flight are cancelled, and the
// lease is released.
func (g *Gate) Close() error {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return nil
	}
	g.closed = true
	close(g.stop)
	for _, cancel := range g.slots {
		cancel()
	}
	g.signal()
	g.mu.Unlock()
	g.wg.Wait()
	g.mu.Lock()
	l, used := g.lease, g.used
	g.lease = nil
	g.phase, g.reason = PhaseIdle, ""
	g.mu.Unlock()
	if l != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := g.cfg.Controller.ReleaseLease(ctx, l.ID, used); err != nil {
			return fmt.Errorf("release origin lease %s: %w", l.ID, err)
		}
	}
	return nil
}

// refund gives back a charge of need bytes made under lease generation gen when nothing was sent.
// A charge made under an earlier lease lapsed with it; only the total is corrected. g.mu is held.
func (g *Gate) refund(gen int, need int64) {
	if gen == g.gen {
		if g.left >= 0 {
			g.left += need
		}
		g.used -= need
		g.pending -= need
	}
	g.total -= need
}
