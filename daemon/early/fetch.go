package early

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"dist/core/lowat"
	"dist/core/retry"
)

// Fetch is one client's part in the exchange: it takes its stripe from the relay, fetches what
// it lacks from its peers, and serves what it holds through its Member.
type Fetch struct {
	Reg            *Registry
	ID             string // the distribution
	Size, PieceLen int64
	File           io.WriterAt
	Member         *Member // holds the pieces already here (a restarted client)
	// Hash answers a hash known from before (the piece record), or nil.
	Hash func(i int) []byte
	// Landed records piece i, verified and written, with its hash.
	Landed func(i int, hash [sha1.Size]byte)
	// Sources answers the relay's and the peers' HTTP base URLs, and a channel closed when they
	// may have changed.
	Sources func() (relay string, peers []string, changed <-chan struct{})
	HTTP    *http.Client
	// FromRelay and FromPeers count the bytes received; Bad the pieces that failed their hash.
	FromRelay, FromPeers, Bad *atomic.Int64
	// OnPiece is told the size of every piece that lands (progress, first byte), whether it came
	// from the relay, and how long its fetch took.
	OnPiece func(n int64, fromRelay bool, took time.Duration)
	Limit   *rate.Limiter // the push's HTTP speed limit; nil: none
	// Known is closed when the metainfo exists: from then on a stalled exchange hands over.
	Known <-chan struct{}
	Log   *slog.Logger
}

// ErrWrite is a piece that could not be written: the caller's own path handles a full disk.
var ErrWrite = errors.New("write piece")

// Run exchanges pieces until every piece is here (nil), the metainfo exists and no piece landed
// for Config.Stall (errStalled), a write fails, or ctx ends.
func (f *Fetch) Run(ctx context.Context) error {
	cfg := f.Reg.cfg
	n := int((f.Size + f.PieceLen - 1) / f.PieceLen)
	r := &run{f: f, cfg: cfg, n: n, inflight: make([]bool, n), avail: make([]int32, n),
		hashes: make([][sha1.Size]byte, n), known: make([]bool, n), peers: make(map[string]*peer),
		wake: make(chan struct{}), last: time.Now()}
	r.have, _ = f.Member.book().snapshot()
	for i := range n {
		if h := f.Hash; h != nil {
			if b := h(i); len(b) == sha1.Size {
				copy(r.hashes[i][:], b)
				r.known[i] = true
			}
		}
	}
	if f.Member.Full() {
		return nil
	}
	ctx, cancel := context.WithCancelCause(ctx)
	r.stop = cancel
	var wg sync.WaitGroup
	defer func() { cancel(nil); wg.Wait() }()
	spawn := func(fn func(context.Context)) {
		wg.Add(1)
		go func() { defer wg.Done(); fn(ctx) }()
	}
	spawn(r.feed)
	spawn(r.taker)
	spawn(r.follow)
	for range cfg.Workers {
		spawn(r.worker)
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		r.mu.Lock()
		ch, last := r.wake, r.last
		r.mu.Unlock()
		if f.Member.Full() {
			return nil
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-ch:
		case now := <-tick.C:
			select {
			case <-f.Known:
				if now.Sub(last) >= cfg.Stall {
					return errStalled
				}
			default:
			}
		}
	}
}

// errStalled ends an exchange that brought nothing for a while after the metainfo came.
var errStalled = errors.New("the exchange brought no piece lately: BitTorrent takes over")

// IsStalled reports whether err ended an exchange that BitTorrent should finish.
func IsStalled(err error) bool { return errors.Is(err, errStalled) }

type run struct {
	f    *Fetch
	cfg  Config
	n    int
	stop context.CancelCauseFunc

	mu       sync.Mutex
	wake     chan struct{} // closed and replaced on every change
	have     bits          // what the member holds, mirrored under r.mu for the scans
	inflight []bool
	avail    []int32 // how many usable peers hold each piece
	hashes   [][sha1.Size]byte
	known    []bool
	peers    map[string]*peer
	last     time.Time // the last landing
}

type peer struct {
	url     string
	bits    bits
	busy    int
	banned  bool
	cancel  context.CancelFunc
	retryAt time.Time
}

// changed wakes every waiter; callers hold r.mu.
func (r *run) changed() {
	close(r.wake)
	r.wake = make(chan struct{})
}

// await releases r.mu until the next change, d (0: no bound) or ctx's end, and takes it again.
func (r *run) await(ctx context.Context, d time.Duration) bool {
	ch := r.wake
	r.mu.Unlock()
	defer r.mu.Lock()
	return waitFor(ctx, ch, d)
}

// claim takes piece i for one fetch; false when it is here or being fetched already.
func (r *run) claim(i int) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if i < 0 || i >= r.n || r.inflight[i] || r.have.has(i) {
		return false
	}
	r.inflight[i] = true
	return true
}

func (r *run) release(i int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.inflight[i] = false
	r.changed()
}

// feed follows the relay's hashes, so pieces from peers can be checked.
func (r *run) feed(ctx context.Context) {
	seq, relay, failures := 0, "", 0
	for ctx.Err() == nil {
		url, _, ch := r.f.Sources()
		if url == "" {
			if !waitFor(ctx, ch, 0) {
				return
			}
			continue
		}
		if url != relay {
			relay, seq = url, 0
		}
		idx, hs, next, err := r.hashesFrom(ctx, url, seq)
		if err != nil {
			failures++
			if !waitFor(ctx, ch, retry.Backoff(failures)) {
				return
			}
			continue
		}
		failures = 0
		seq = next
		r.mu.Lock()
		for k, i := range idx {
			if int(i) < r.n && !r.known[i] {
				r.hashes[i], r.known[i] = hs[k], true
			}
		}
		r.changed()
		r.mu.Unlock()
	}
}

func (r *run) hashesFrom(ctx context.Context, relay string, seq int) ([]int32, [][sha1.Size]byte, int, error) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Wait+10*time.Second)
	defer cancel()
	resp, err := r.get(ctx, http.MethodGet, relay+Path(r.f.ID)+"/hashes?from="+strconv.Itoa(seq), nil)
	if err != nil {
		return nil, nil, 0, err
	}
	defer resp.Body.Close()
	if err := r.check(resp); err != nil {
		return nil, nil, 0, err
	}
	next, err := strconv.Atoi(resp.Header.Get(hdrNext))
	if err != nil {
		return nil, nil, 0, fmt.Errorf("hashes from %s: no %s header", relay, hdrNext)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, int64(r.n)*entryLen+1))
	if err != nil {
		return nil, nil, 0, fmt.Errorf("hashes from %s: %w", relay, err)
	}
	idx, hs, err := parseHashes(body, r.n)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("hashes from %s: %w", relay, err)
	}
	return idx, hs, next, nil
}

// parseHashes reads a hashes answer for a file of n pieces: whole entries, indexes in range.
func parseHashes(body []byte, n int) ([]int32, [][sha1.Size]byte, error) {
	if len(body)%entryLen != 0 || len(body) > n*entryLen {
		return nil, nil, fmt.Errorf("malformed answer of %d bytes for %d pieces", len(body), n)
	}
	idx := make([]int32, 0, len(body)/entryLen)
	hs := make([][sha1.Size]byte, 0, len(body)/entryLen)
	for b := body; len(b) > 0; b = b[entryLen:] {
		i := binary.BigEndian.Uint32(b)
		if i >= uint32(n) {
			return nil, nil, fmt.Errorf("piece %d out of range: the file has %d", i, n)
		}
		idx = append(idx, int32(i))
		var h [sha1.Size]byte
		copy(h[:], b[4:entryLen])
		hs = append(hs, h)
	}
	return idx, hs, nil
}

// taker asks the relay for one piece at a time: a fresh one (the client's stripe), or, when no
// peer holds what this client lacks, whatever it lacks.
func (r *run) taker(ctx context.Context) {
	failures := 0
	for ctx.Err() == nil {
		url, _, ch := r.f.Sources()
		if url == "" {
			if !waitFor(ctx, ch, 0) {
				return
			}
			continue
		}
		err := r.takeOne(ctx, url)
		if err == nil {
			failures = 0
			continue
		}
		if ctx.Err() != nil {
			return
		}
		failures++
		r.f.Log.Debug("take from relay failed", "relay", url, "err", err)
		if !waitFor(ctx, ch, retry.Backoff(failures)) {
			return
		}
	}
}

func (r *run) takeOne(ctx context.Context, relay string) error {
	r.mu.Lock()
	has, need := r.bitmap(), r.starved()
	r.mu.Unlock()
	q := ""
	if need {
		q = "?need=1"
	}
	tctx, cancel := context.WithTimeout(ctx, r.cfg.TakeWait+r.cfg.PieceTimeout)
	defer cancel()
	start := time.Now() // a take waits for a piece to give: its time is the relay's pace too
	var lw lowat.Hook
	resp, err := r.get(lowat.Trace(tctx, &lw), http.MethodPost, relay+Path(r.f.ID)+"/take"+q, has)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNoContent {
		return nil
	}
	if err := r.check(resp); err != nil {
		return err
	}
	i, err := strconv.Atoi(resp.Header.Get(hdrPiece))
	if err != nil || i < 0 || i >= r.n {
		return fmt.Errorf("take from %s: bad %s header %q", relay, hdrPiece, resp.Header.Get(hdrPiece))
	}
	want, err := hex.DecodeString(resp.Header.Get(hdrHash))
	if err != nil || len(want) != sha1.Size {
		return fmt.Errorf("take from %s: bad %s header", relay, hdrHash)
	}
	var h [sha1.Size]byte
	copy(h[:], want)
	r.mu.Lock()
	if !r.known[i] {
		r.hashes[i], r.known[i] = h, true
	}
	r.mu.Unlock()
	if !r.claim(i) {
		return nil // it came from a peer meanwhile
	}
	defer r.release(i)
	if err := r.receive(ctx, resp, &lw, i, h, r.f.FromRelay, true, start); err != nil {
		return fmt.Errorf("piece %d from relay %s: %w", i, relay, err)
	}
	return nil
}

// bitmap is what the relay must not give: what is here or on its way. Callers hold r.mu.
func (r *run) bitmap() []byte {
	b := append(bits(nil), r.have...)
	for i, f := range r.inflight {
		if f {
			b.set(i)
		}
	}
	return b
}

// starved reports whether no usable peer holds a piece this client lacks and none is on its
// way: only the relay can help. Callers hold r.mu.
func (r *run) starved() bool {
	for i := range r.n {
		if r.inflight[i] || (r.avail[i] > 0 && !r.have.has(i)) {
			return false
		}
	}
	return true
}

// follow keeps one have watch per peer the tracker lists.
func (r *run) follow(ctx context.Context) {
	for ctx.Err() == nil {
		_, urls, ch := r.f.Sources()
		r.mu.Lock()
		now := make(map[string]bool, len(urls))
		for _, u := range urls {
			now[u] = true
			if _, ok := r.peers[u]; !ok {
				pctx, cancel := context.WithCancel(ctx)
				p := &peer{url: u, cancel: cancel}
				r.peers[u] = p
				go r.watch(pctx, p)
			}
		}
		for u, p := range r.peers {
			if !now[u] {
				p.cancel()
				r.drop(p)
				delete(r.peers, u)
			}
		}
		r.changed()
		r.mu.Unlock()
		if !waitFor(ctx, ch, 0) {
			break
		}
	}
	r.mu.Lock()
	for _, p := range r.peers {
		p.cancel()
	}
	r.mu.Unlock()
}

// drop takes p's pieces out of the availability counts; callers hold r.mu.
func (r *run) drop(p *peer) {
	for i := range r.n {
		if p.bits.has(i) {
			r.avail[i]--
		}
	}
	p.bits = nil
}

// watch follows one peer's have bitmap: one stream at a time, each carrying the peer's changes
// until it ends, then the next from the last version seen.
func (r *run) watch(ctx context.Context, p *peer) {
	var v uint64
	failures := 0
	for ctx.Err() == nil {
		start := time.Now()
		err := r.haveOf(ctx, p, &v)
		r.mu.Lock()
		banned := p.banned
		r.mu.Unlock()
		if banned {
			return // nothing more is taken from it
		}
		var wait time.Duration
		switch {
		case err != nil:
			failures++
			wait = retry.Backoff(failures)
		case time.Since(start) < time.Second:
			failures = 0
			wait = retry.Backoff(0) // a peer that ends its streams at once is not asked again at once
		default:
			failures = 0
		}
		if wait > 0 && !waitFor(ctx, nil, wait) {
			return
		}
	}
}

// haveOf reads one have stream of p, applying each frame as it comes; nil when it ended between
// two frames.
func (r *run) haveOf(ctx context.Context, p *peer, v *uint64) error {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Wait+10*time.Second)
	defer cancel()
	resp, err := r.get(ctx, http.MethodGet, p.url+Path(r.f.ID)+"/have?v="+strconv.FormatUint(*v, 10), nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := r.check(resp); err != nil {
		return err
	}
	frame := make([]byte, haveFrame(r.n))
	for {
		if _, err := io.ReadFull(resp.Body, frame); err != nil {
			if err == io.EOF {
				return nil
			}
			return fmt.Errorf("have of %s: %w", p.url, err)
		}
		*v = binary.BigEndian.Uint64(frame)
		b := bits(frame[8:])
		r.mu.Lock()
		if !p.banned && ctx.Err() == nil {
			if p.bits == nil {
				p.bits = newBits(r.n)
			}
			for i := range r.n {
				if b.has(i) && !p.bits.has(i) {
					r.avail[i]++
				} else if !b.has(i) && p.bits.has(i) {
					r.avail[i]--
				}
			}
			copy(p.bits, b)
			r.changed()
		}
		r.mu.Unlock()
	}
}

// worker fetches pieces from peers, rarest first.
func (r *run) worker(ctx context.Context) {
	for {
		i, p, ok := r.next(ctx)
		if !ok {
			return
		}
		err := r.fromPeer(ctx, i, p)
		r.mu.Lock()
		p.busy--
		r.inflight[i] = false
		switch {
		case err == nil, ctx.Err() != nil:
		case errors.Is(err, errBadPiece):
			if !p.banned {
				p.banned = true
				r.drop(p)
				r.f.Log.Warn("peer sent a piece that does not match the relay's hash: no more pieces from it", "peer", p.url, "piece", i)
			}
		default:
			p.retryAt = time.Now().Add(time.Second)
			r.f.Log.Debug("piece from peer failed", "peer", p.url, "piece", i, "err", err)
		}
		r.changed()
		r.mu.Unlock()
	}
}

// next waits for a piece a usable peer holds and claims it, with that peer.
func (r *run) next(ctx context.Context) (int, *peer, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for {
		if ctx.Err() != nil {
			return 0, nil, false
		}
		now := time.Now()
		// Rarest first, then the lowest index: pieces spread as they came from the relay, and the
		// file fills from its start, so its checksum can follow close behind.
		best, bestPeer, soonest := -1, (*peer)(nil), time.Duration(0)
		for i := range r.n {
			if r.avail[i] == 0 || r.inflight[i] || !r.known[i] || r.have.has(i) {
				continue
			}
			if best >= 0 && r.avail[i] >= r.avail[best] {
				continue
			}
			if p, wait := r.holder(i, now); p != nil {
				best, bestPeer = i, p
			} else if wait > 0 && (soonest == 0 || wait < soonest) {
				soonest = wait
			}
		}
		if best >= 0 {
			r.inflight[best] = true
			bestPeer.busy++
			return best, bestPeer, true
		}
		r.await(ctx, soonest)
	}
}

// holder answers the least busy usable peer that holds piece i, or how long until one that is
// backing off may be asked again. Callers hold r.mu.
func (r *run) holder(i int, now time.Time) (*peer, time.Duration) {
	var best *peer
	var wait time.Duration
	for _, p := range r.peers {
		if p.banned || !p.bits.has(i) || p.busy >= r.cfg.PerPeer {
			continue
		}
		if d := p.retryAt.Sub(now); d > 0 {
			if wait == 0 || d < wait {
				wait = d
			}
			continue
		}
		if best == nil || p.busy < best.busy || (p.busy == best.busy && rand.IntN(2) == 0) {
			best = p
		}
	}
	return best, wait
}

// errBadPiece is a piece whose bytes do not match the relay's hash.
var errBadPiece = errors.New("piece does not match its hash")

func (r *run) fromPeer(ctx context.Context, i int, p *peer) error {
	r.mu.Lock()
	h := r.hashes[i]
	r.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, r.cfg.PieceTimeout)
	defer cancel()
	start := time.Now()
	var lw lowat.Hook
	resp, err := r.get(lowat.Trace(ctx, &lw), http.MethodGet, p.url+Path(r.f.ID)+"/piece/"+strconv.Itoa(i), nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := r.check(resp); err != nil {
		return err
	}
	return r.receive(ctx, resp, &lw, i, h, r.f.FromPeers, false, start)
}

// receive reads piece i from the answer's body into its place in the file, hashing it on the
// way, and lands it when it matches want. A piece that does not match stays unrecorded: it is
// never served, never counted, and fetched again elsewhere. lw follows the answer's connection:
// its reads wait for a batch of the piece's bytes at a time.
func (r *run) receive(ctx context.Context, resp *http.Response, lw *lowat.Hook, i int, want [sha1.Size]byte, counter *atomic.Int64, fromRelay bool, start time.Time) error {
	off := int64(i) * r.f.PieceLen
	size := min(r.f.PieceLen, r.f.Size-off)
	body := resp.Body
	lw.Expect(min(size, resp.ContentLength)) // no more than the answer says it brings
	defer lw.Done()
	bp := stepPool.Get().(*[]byte)
	defer stepPool.Put(bp)
	buf := *bp
	sum := sha1.New()
	got := int64(0)
	for got < size {
		k, err := io.ReadFull(body, buf[:min(int64(len(buf)), size-got)])
		if k > 0 {
			if lim := r.f.Limit; lim != nil {
				if err := waitLimit(ctx, lim, k); err != nil {
					return err
				}
			}
			if _, werr := r.f.File.WriteAt(buf[:k], off+got); werr != nil {
				werr = fmt.Errorf("%w %d: %w", ErrWrite, i, werr)
				r.stop(werr)
				return werr
			}
			hashWrite(sum, buf[:k])
			got += int64(k)
			if counter != nil {
				counter.Add(int64(k))
			}
		}
		if err != nil {
			return fmt.Errorf("%w after %d of %d bytes: %w", errShort, got, size, err)
		}
	}
	var h [sha1.Size]byte
	sum.Sum(h[:0])
	if !bytes.Equal(h[:], want[:]) {
		if r.f.Bad != nil {
			r.f.Bad.Add(1)
		}
		return fmt.Errorf("%w: piece %d", errBadPiece, i)
	}
	r.f.Landed(i, h)
	r.f.Member.Add(i)
	if r.f.OnPiece != nil {
		r.f.OnPiece(size, fromRelay, time.Since(start))
	}
	r.mu.Lock()
	r.have.set(i)
	r.last = time.Now()
	r.changed()
	r.mu.Unlock()
	return nil
}

func hashWrite(h hash.Hash, b []byte) { _, _ = h.Write(b) }

func waitLimit(ctx context.Context, lim *rate.Limiter, n int) error {
	for n > 0 {
		step := min(n, lim.Burst())
		if err := lim.WaitN(ctx, step); err != nil {
			return err
		}
		n -= step
	}
	return nil
}

func (r *run) get(ctx context.Context, method, url string, body []byte) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return nil, err
	}
	return r.f.HTTP.Do(req)
}

// check refuses an answer that is not 200 or that cuts the file otherwise than this client.
func (r *run) check(resp *http.Response) error {
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("%s: %s: %s", resp.Request.URL.Path, resp.Status, strings.TrimSpace(string(msg)))
	}
	size, _ := strconv.ParseInt(resp.Header.Get(hdrSize), 10, 64)
	pieceLen, _ := strconv.ParseInt(resp.Header.Get(hdrPieceLen), 10, 64)
	if size != r.f.Size || pieceLen != r.f.PieceLen {
		return fmt.Errorf("%s: cuts %d bytes in pieces of %d, this client %d in pieces of %d",
			resp.Request.URL.Path, size, pieceLen, r.f.Size, r.f.PieceLen)
	}
	return nil
}

// waitFor waits for ch (nil: never), d (0: no bound), or ctx's end; false once ctx ended.
func waitFor(ctx context.Context, ch <-chan struct{}, d time.Duration) bool {
	var timer <-chan time.Time
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		timer = t.C
	}
	select {
	case <-ch:
	case <-timer:
	case <-ctx.Done():
	}
	return ctx.Err() == nil
}
