// Package assist runs the hybrid loop of a client: BitTorrent first; HTTP fetches missing pieces
// when the policy (core/hybrid) says BitTorrent is slow (assisting, within the HTTP share cap) or
// absent (http-main, no cap). Every HTTP piece is checked against its hash before it counts, then
// handed to the swarm. Which pieces HTTP takes is a pure policy (pick.go).
package assist

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"time"

	"golang.org/x/time/rate"

	"dist/core/api"
	"dist/core/content"
	"dist/core/fetch"
	"dist/core/hybrid"
	"dist/core/swarm"
	"dist/daemon/origingate"
	"dist/daemon/task"
)

// NetworkLabel is the host label that names its network type for the assist threshold
// (lan, wan, cellular; see hybrid.AdaptThreshold).
const NetworkLabel = "network"

const (
	// Parallel HTTP piece fetches of one client: a few while assisting (HTTP is a supplement), more
	// when HTTP is the main path.
	assistFetchers = 2
	mainFetchers   = 4
	// sourceBackoff keeps a failing HTTP source aside; a source that served bad data stays aside longer.
	sourceBackoff    = 2 * time.Second
	badSourceBackoff = 30 * time.Second
	// pieceTimeout bounds one HTTP piece fetch.
	pieceTimeout = 2 * time.Minute
	// originAdmission bounds the wait for an origin connection slot.
	originAdmission = 10 * time.Second
	// stallAfter is how long a partial piece may go without growing before HTTP takes it: a
	// piece BitTorrent half-fetched from a peer that left would otherwise never finish.
	stallAfter = 10 * time.Second
)

// httpSource is one place a piece can be fetched from over HTTP.
type httpSource struct {
	url    string
	origin bool // the origin: only through the gate, counted as http-origin
}

// Run runs the hybrid loop of task t over its torrent until the torrent is complete or ctx ends.
func Run(ctx context.Context, t *task.Task, tor *swarm.Torrent) {
	set := t.Settings()
	if set.NoAssist {
		t.SetMode(hybrid.ModeBT, "http assist disabled", false, time.Now())
		return
	}
	t.SetMode(hybrid.ModeBT, "bt first: measuring its rate", true, time.Now())
	a := newAssister(t, tor, set)
	a.run(ctx)
}

type assister struct {
	t      *task.Task
	spec   api.Task
	log    *slog.Logger
	tor    *swarm.Torrent
	meta   content.Meta
	policy *hybrid.Policy
	base   float64 // threshold before adaptation
	gate   fetch.Gate
	client *http.Client
	limit  *rate.Limiter // max speed of HTTP fetching; nil: none

	sources   []httpSource
	swarmSize int
	aside     map[string]time.Time // source URL → not before
	busy      map[int]bool         // pieces being fetched over HTTP now
	progress  *progress            // how BitTorrent's partial pieces grow
	done      chan fetchResult
	decision  hybrid.Decision
	httpAtDec int64 // HTTP bytes when decision was taken
	inflight  int64 // bytes of pieces being fetched now
}

type fetchResult struct {
	piece int
	n     int64
	src   httpSource
	err   error
	bad   []string // sources that answered data failing the hash
	tried []string // sources that failed otherwise
}

func newAssister(t *task.Task, tor *swarm.Torrent, set api.Settings) *assister {
	spec := t.Spec()
	a := &assister{
		t: t, spec: spec, log: t.Log().With("part", "assist"), tor: tor, meta: tor.Meta(),
		policy:   hybrid.NewPolicy(hybrid.FromSettings(set), time.Now()),
		base:     float64(set.Threshold),
		gate:     t.Env().Gates.Client(spec.Source),
		progress: newProgress(stallAfter),
		client: &http.Client{Transport: &http.Transport{
			Proxy: http.ProxyFromEnvironment, MaxIdleConnsPerHost: mainFetchers,
			IdleConnTimeout: 90 * time.Second, ResponseHeaderTimeout: 30 * time.Second,
			TLSClientConfig: fetch.TLSConfig(t.Env().Pull),
		}},
		aside: map[string]time.Time{},
		busy:  map[int]bool{},
		done:  make(chan fetchResult, mainFetchers),
	}
	if set.MaxSpeed > 0 {
		a.limit = rate.NewLimiter(rate.Limit(set.MaxSpeed), int(max(set.MaxSpeed, a.meta.PieceLen)))
	}
	return a
}

func (a *assister) run(ctx context.Context) {
	defer a.client.CloseIdleConnections()
	cfg := a.policy.Config()
	tick := time.NewTicker(cfg.SampleInterval)
	defer tick.Stop()
	ctx, cancel := context.WithCancel(ctx)
	defer func() {
		cancel()
		for len(a.busy) > 0 { // wait for the fetchers: none may outlive the task
			a.finished(<-a.done)
		}
	}()
	a.refreshPeers()
	a.observe(time.Now())
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.tor.Done():
			return
		case r := <-a.done:
			a.finished(r)
		case now := <-tick.C:
			a.refreshPeers()
			a.observe(now)
		}
		a.startFetches(ctx)
	}
}

// observe feeds one sample to the policy and publishes the mode.
func (a *assister) observe(now time.Time) {
	st := a.tor.Stats()
	got := a.httpBytes()
	a.policy.SetThreshold(hybrid.AdaptThreshold(a.base, a.meta.Size, a.t.Env().Labels[NetworkLabel], a.swarmSize))
	d := a.policy.Observe(hybrid.Observation{At: now, BTTotal: st.BytesBT, HTTPTotal: got, Peers: st.Peers})
	a.decision, a.httpAtDec = d, got
	if d.Changed {
		a.log.Info("hybrid mode changed", "mode", d.Mode, "reason", d.Reason, "bt_rate", hybrid.FormatRate(d.Rate))
	}
	a.t.SetMode(d.Mode, d.Reason, d.Changed, now)
}

func (a *assister) httpBytes() int64 { return a.t.HTTPRelay.Load() + a.t.HTTPOrigin.Load() }

// budget is what HTTP may still start now: the policy's allowance less what was fetched since
// the decision and what is in flight. Negative means no cap.
func (a *assister) budget() int64 {
	switch a.decision.Mode {
	case hybrid.ModeHTTPMain:
		return hybrid.Unlimited
	case hybrid.ModeAssist:
		return a.decision.HTTPBudget - (a.httpBytes() - a.httpAtDec) - a.inflight
	}
	return 0
}

// startFetches starts HTTP piece fetches while the mode, the budget and the fetcher slots allow.
func (a *assister) startFetches(ctx context.Context) {
	slots := 0
	switch a.decision.Mode {
	case hybrid.ModeHTTPMain:
		slots = mainFetchers
	case hybrid.ModeAssist:
		slots = assistFetchers
	}
	if len(a.busy) >= slots || len(a.sources) == 0 && !a.originUsable() || a.tor.WriteFailure() != nil {
		return // no slot, no source, or nowhere to write (a full disk: the client retries writing)
	}
	picks := a.pickPieces(slots - len(a.busy))
	for _, i := range picks {
		_, n := a.meta.PieceRange(i)
		if b := a.budget(); b >= 0 && b < n {
			return
		}
		srcs := a.orderedSources()
		if len(srcs) == 0 {
			return
		}
		a.busy[i] = true
		a.inflight += n
		a.tor.Claim(i)
		go func() { a.done <- a.fetchPiece(ctx, i, srcs) }()
	}
}

// pickPieces chooses up to n missing pieces for HTTP (Pick), leaving out those being fetched
// over HTTP now.
func (a *assister) pickPieces(n int) []int {
	if n <= 0 {
		return nil
	}
	missing := a.tor.Missing()
	if len(missing) == 0 {
		return nil
	}
	avail := a.tor.Availability()
	started := a.tor.InFlight()
	now := time.Now()
	cands := make([]Candidate, 0, len(missing))
	for _, i := range missing {
		if a.busy[i] {
			continue
		}
		_, size := a.meta.PieceRange(i)
		got := started[i]
		live := got > 0 && avail[i] > 0 && a.progress.live(i, got, now)
		cands = append(cands, Candidate{Piece: i, Size: size, Got: got, Avail: avail[i], Live: live, Tie: rand.Int()})
	}
	return Pick(cands, n)
}

// orderedSources lists the sources to try for one piece: relays (and finished peers) first, in a
// rotating order that spreads the load, then the origin; sources set aside are left out.
func (a *assister) orderedSources() []httpSource {
	now := time.Now()
	var out []httpSource
	if len(a.sources) > 0 {
		start := rand.N(len(a.sources))
		for k := range a.sources {
			s := a.sources[(start+k)%len(a.sources)]
			if now.Before(a.aside[s.url]) {
				continue
			}
			out = append(out, s)
		}
	}
	if a.originUsable() && !now.Before(a.aside[a.spec.Source]) {
		out = append(out, httpSource{url: a.spec.Source, origin: true})
	}
	return out
}

// originUsable reports whether the origin may be a source at all: a task with an HTTP source
// whose gate is not closed for good.
func (a *assister) originUsable() bool {
	if _, closed := a.gate.(origingate.Closed); closed {
		return false
	}
	src := a.spec.Source
	return len(src) > 7 && (src[:7] == "http://" || len(src) > 8 && src[:8] == "https://")
}

func (a *assister) finished(r fetchResult) {
	_, n := a.meta.PieceRange(r.piece)
	delete(a.busy, r.piece)
	a.inflight -= n
	now := time.Now()
	for _, u := range r.tried {
		a.aside[u] = now.Add(sourceBackoff)
	}
	for _, u := range r.bad {
		a.aside[u] = now.Add(badSourceBackoff)
	}
	if r.err != nil {
		a.tor.Release(r.piece)
		if !errors.Is(r.err, context.Canceled) {
			a.log.Debug("http piece not fetched", "piece", r.piece, "err", r.err)
		}
	}
}

// fetchPiece fetches piece i from the first source that answers it correctly, verifies it and
// hands it to the swarm. Only verified bytes are counted, by source.
func (a *assister) fetchPiece(ctx context.Context, i int, srcs []httpSource) fetchResult {
	res := fetchResult{piece: i}
	off, n := a.meta.PieceRange(i)
	buf := make([]byte, n)
	for _, s := range srcs {
		if ctx.Err() != nil {
			res.err = ctx.Err()
			return res
		}
		if a.tor.HasPiece(i) {
			return res // BitTorrent was quicker
		}
		if a.limit != nil {
			if err := a.limit.WaitN(ctx, int(n)); err != nil {
				res.err = err
				return res
			}
		}
		start := time.Now()
		err := a.get(ctx, s, off, buf)
		took := time.Since(start)
		if err == nil {
			if a.tor.HasPiece(i) {
				return res
			}
			err = a.tor.InjectPiece(ctx, i, buf)
			if errors.Is(err, swarm.ErrPieceMismatch) {
				a.t.HTTPBadPieces.Add(1)
				a.log.Warn("http piece failed its hash, discarded; trying another source", "piece", i, "source", s.url)
				res.bad = append(res.bad, s.url)
				res.err = err
				continue
			}
		}
		if err != nil {
			res.tried = append(res.tried, s.url)
			res.err = err
			continue
		}
		if s.origin {
			a.t.HTTPOrigin.Add(n)
			a.t.Env().PieceFetched(api.SourceHTTPOrigin, took)
		} else {
			a.t.HTTPRelay.Add(n)
			a.t.Env().PieceFetched(api.SourceHTTPRelay, took)
		}
		a.t.MarkFirstByte()
		res.src, res.n, res.err = s, n, nil
		return res
	}
	if res.err == nil {
		res.err = errors.New("no http source left")
	}
	res.err = fmt.Errorf("piece %d over http: %w", i, res.err)
	return res
}

// get reads exactly len(buf) bytes at off from s into buf. A short body, a 200 answer to the
// Range request or any other wrong answer is an error (fetch.GetRange is strict).
func (a *assister) get(ctx context.Context, s httpSource, off int64, buf []byte) error {
	ctx, cancel := context.WithTimeout(ctx, pieceTimeout)
	defer cancel()
	if s.origin {
		// Admission waits for the controller's lease; a relay may be back before it comes.
		cctx, ccancel := context.WithTimeout(ctx, originAdmission)
		release, err := a.gate.Conn(cctx)
		ccancel()
		if err != nil {
			return err
		}
		defer release()
		if err := a.gate.Wait(ctx, len(buf)); err != nil {
			return err
		}
	}
	w := &sliceWriter{buf: buf}
	got, err := fetch.GetRange(ctx, a.client, s.url, off, int64(len(buf)), w)
	if err != nil {
		return err
	}
	if got != int64(len(buf)) {
		return fmt.Errorf("range of %s: %d bytes, want %d", s.url, got, len(buf))
	}
	return nil
}

// refreshPeers learns, from the task's view of the swarm, the relays (and finished peers) that
// serve the content over HTTP, and the swarm size for the threshold.
func (a *assister) refreshPeers() {
	peers, _ := a.t.Peers().List()
	if peers == nil {
		return
	}
	a.swarmSize = len(peers) + 1
	name := a.t.Env().Name
	var relays, finished []httpSource
	for _, p := range peers {
		if p.HTTPURL == "" || p.Host == name {
			continue
		}
		s := httpSource{url: a.t.Peers().ContentURL(p)}
		switch {
		case p.Relay:
			relays = append(relays, s)
		case p.Complete:
			finished = append(finished, s)
		}
	}
	a.sources = append(relays, finished...)
}

// sliceWriter fills a fixed buffer and refuses to overflow it.
type sliceWriter struct {
	buf []byte
	n   int
}

func (w *sliceWriter) Write(p []byte) (int, error) {
	if len(p) > len(w.buf)-w.n {
		return 0, errors.New("more bytes than the piece holds")
	}
	w.n += copy(w.buf[w.n:], p)
	return len(p), nil
}
