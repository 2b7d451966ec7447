// Package relay runs a relay task: it pulls the source with parallel Range requests (under the
// origin's lease, or from the relay ahead of it), records and hashes every piece as it lands
// (the zero pieces a published file's metainfo marks are written here, never pulled: zero.go),
// serves what it has over HTTP and BitTorrent while it still pulls, publishes the metainfo (with
// the whole-file SHA-256) when the source came without one, then keeps seeding.
package relay

import (
	"context"
	"crypto/sha1"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"dist/core/api"
	"dist/core/atomicfile"
	"dist/core/content"
	"dist/core/fetch"
	"dist/core/retry"
	"dist/core/swarm"
	"dist/daemon/early"
	"dist/daemon/task"
)

// Config is how a relay pulls and when it starts serving.
type Config struct {
	// StartThreshold is the share of the file a relay holds before it serves over HTTP: a small
	// lead keeps it ahead of its first clients. A push's setting overrides it.
	StartThreshold float64
	// StartWaiters waiting requests make a relay serve before it holds the threshold.
	StartWaiters int
	// Chunk is the least a relay asks for in one Range request: small enough that the first bytes
	// land soon and waiting requests are answered soon, large enough to be worth the trip.
	Chunk int64
	// Workers is the number of parallel Range connections of one pull.
	Workers int
	// UpstreamTries is how often a relay tries the relay ahead of it before it pulls the origin.
	UpstreamTries int
	// Early, when set, gives each piece of a URL source to one client over HTTP as it lands — the
	// client's stripe — before the metainfo exists; the clients exchange the stripes.
	Early *early.Registry
}

// Defaults of Config.
const (
	DefaultStartThreshold = 0.03
	DefaultStartWaiters   = 2
	DefaultChunk          = 1 << 20
	DefaultWorkers        = 4
	DefaultUpstreamTries  = 3
)

func (c Config) withDefaults() Config {
	if c.StartThreshold <= 0 || c.StartThreshold > 1 {
		c.StartThreshold = DefaultStartThreshold
	}
	if c.StartWaiters <= 0 {
		c.StartWaiters = DefaultStartWaiters
	}
	if c.Chunk <= 0 {
		c.Chunk = DefaultChunk
	}
	if c.Workers <= 0 {
		c.Workers = DefaultWorkers
	}
	if c.UpstreamTries <= 0 {
		c.UpstreamTries = DefaultUpstreamTries
	}

	return c
}

// Relay runs relay tasks.
type Relay struct {
	cfg Config
}

// New answers a relay with cfg (zero fields take the defaults).
func New(cfg Config) *Relay { return &Relay{cfg: cfg.withDefaults()} }

// Workers is the number of origin connections one pull keeps in flight: what its lease asks for.
func (r *Relay) Workers() int { return r.cfg.Workers }

// pull is one relay task's pull.
type pull struct {
	r        *Relay
	t        *task.Task
	log      *slog.Logger
	spec     api.Task
	meta     content.Meta // known from the start (a published file), else zero until built
	size     int64
	pieceLen int64
	n, per   int
	dataPath string
	f        *os.File
	rec      *swarm.Record
	pc       *pulled
	tor      *swarm.Torrent
	src      *early.Source // the pieces given to clients while the pull runs; nil: none
	// zeroBytes is the bytes of the zero pieces the relay wrote itself instead of pulling (zero.go).
	zeroBytes int64
}

// Run is the task.Runner of relay tasks.
func (r *Relay) Run(ctx context.Context, t *task.Task) error {
	t.SetState(api.TaskDownloading)
	p := &pull{r: r, t: t, log: t.Log(), spec: t.Spec()}
	p.size = p.spec.Size
	p.pieceLen = p.spec.PieceLen
	if m, ok := t.MetaNow(); ok {
		p.meta, p.pieceLen = m, m.PieceLen
	} else if _, err := metaErr(ctx, t); err != nil {
		return err
	}
	if p.pieceLen <= 0 {
		p.pieceLen = content.PieceLength(p.size)
	}
	p.n = int((p.size + p.pieceLen - 1) / p.pieceLen)
	// A chunk is a whole number of pieces, so every piece lands whole and is hashed at once.
	p.per = max(1, int(r.cfg.Chunk/p.pieceLen))
	if err := p.open(); err != nil {
		return err
	}
	defer p.f.Close()
	defer p.rec.Close()
	if p.src != nil {
		defer r.cfg.Early.AddSource(p.spec.DistID, p.src)()
	}
	return p.run(ctx)
}

// metaErr answers the error of a metainfo that reached the host but did not parse.
func metaErr(ctx context.Context, t *task.Task) (content.Meta, error) {
	select {
	case <-t.MetaKnown():
		return t.Meta(ctx)
	default:
		return content.Meta{}, nil
	}
}

// open opens the relay's file and its piece record, and what has landed before a restart.
func (p *pull) open() error {
	dir := p.t.Dir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("relay directory %s: %w", dir, err)
	}
	p.dataPath = filepath.Join(dir, task.SafeName(p.spec.Name))
	_, serr := os.Stat(p.dataPath)
	created := errors.Is(serr, os.ErrNotExist)
	f, err := os.OpenFile(p.dataPath, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("relay file %s: %w", p.dataPath, err)
	}
	if err := f.Truncate(p.size); err != nil {
		f.Close()
		return fmt.Errorf("relay file %s: %w", p.dataPath, err)
	}
	var ih [sha1.Size]byte
	if p.meta.Known() {
		ih = sha1.Sum(p.meta.InfoBytes)
	}
	rec, err := swarm.OpenRecord(p.log, filepath.Join(dir, "pull.pieces"), p.n, ih, f.Sync)
	if err != nil {
		f.Close()
		return err
	}
	p.f, p.rec = f, rec
	if p.zeroBytes, err = p.fillZeros(created); err != nil {
		rec.Close()
		f.Close()
		return err
	}
	p.t.ZeroOwn.Store(p.zeroBytes)
	p.t.Zero.Store(p.zeroBytes)
	p.pc = newPulled(p.size, p.pieceLen, p.per, p.threshold(), p.r.cfg.StartWaiters)
	for i := range p.n {
		if rec.Complete(i) {
			p.pc.add(i)
		}
	}
	pf := pulledFile{p: p.pc, f: f}
	if n := p.t.Env().Node; n != nil {
		pf.pace = n.PaceUpload // one upload budget with BitTorrent (--bt-upload-rate)
	}
	if p.r.cfg.Early != nil {
		p.src = early.NewSource(p.size, p.pieceLen, early.Paced(pf.pace, f), &p.t.HTTPUp)
		p.src.Gate = p.pc.waitOpen // the start threshold holds for takes as for ranges
		for i := range p.n {
			if rec.Complete(i) {
				p.src.Landed(i, rec.Hash(i))
			}
		}
	}
	p.t.Have.Store(p.pc.held())
	if p.pc.held() > p.zeroBytes {
		p.log.Info("relay resumes pull", "have", p.pc.held(), "size", p.size)
	}
	if p.zeroBytes > 0 {
		p.log.Info("relay writes the zero pieces itself", "bytes_zero", p.zeroBytes, "size", p.size)
	}
	p.t.Serve(pf)
	return nil
}

// threshold is the share of the file the relay holds before it serves.
func (p *pull) threshold() float64 {
	if th := p.t.Settings().StartThreshold; th > 0 && th <= 1 {
		return th
	}
	return p.r.cfg.StartThreshold
}

func (p *pull) run(ctx context.Context) error {
	// With the metainfo known, the swarm starts now: each piece is announced as soon as it is here.
	if p.meta.Known() {
		if err := p.seed(ctx); err != nil {
			return err
		}

		p.t.Go(func() { p.t.Sample(ctx, p.tor, nil) })
	}
	// The whole-file checksum follows the pull in file order, so it is ready with the last piece.
	var sum atomic.Value
	sumDone := make(chan error, 1)
	if p.meta.SHA256 == "" {
		p.t.Go(func() {
			s, err := content.SHA256(ctx, inOrder{ctx: ctx, pulledFile: pulledFile{p: p.pc, f: p.f}}, p.size)
			sum.Store(s)
			sumDone <- err
		})
	}
	start := time.Now()
	if err := p.pullAll(ctx); err != nil {
		p.pc.fail(err)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return err
	}
	p.rec.Flush()
	p.t.SetDone(time.Now().UnixMilli())
	p.log.Info("relay pulled source", "bytes", p.size, "zero", p.zeroBytes, "from_origin", p.t.HTTPOrigin.Load(), "from_relays", p.t.HTTPRelay.Load(),
		"took", time.Since(start).Round(time.Millisecond))

	if !p.meta.Known() {
		if err := <-sumDone; err != nil {
			return fmt.Errorf("sha256 of %s: %w", p.dataPath, err)
		}
		if err := p.build(sum.Load().(string)); err != nil {
			return err
		}
		if keep := p.t.Env().KeepMetainfo; keep != nil {
			keep(p.meta.Raw) // its clients fetch it from here, not each from the controller
		}
		if err := p.publish(ctx); err != nil {
			return err
		}
	}
	p.t.Complete.Store(true)
	p.t.SetState(api.TaskSeeding)
	if p.tor != nil {
		<-ctx.Done() // seeding since the first piece; Sample runs until ctx ends
		return nil
	}
	if err := p.seed(ctx); err != nil {
		return err
	}
	p.t.Sample(ctx, p.tor, nil)
	return nil
}

// build makes the metainfo of a source that came without one, from the hashes the pull recorded.
func (p *pull) build(sum string) error {
	pieces := make([]byte, 0, p.n*sha1.Size)
	for i := range p.n {
		h := p.rec.Hash(i)
		if h == nil {
			return fmt.Errorf("pull of %s ended with piece %d missing", p.spec.Source, i)
		}
		pieces = append(pieces, h...)
	}
	m, err := content.New(task.SafeName(p.spec.Name), p.size, p.pieceLen, pieces, sum)
	if err != nil {
		return fmt.Errorf("metainfo of %s: %w", p.spec.DistID, err)
	}
	p.meta = m
	return nil
}

// seed adds the torrent over the relay's file and its record, which says exactly which pieces
// the pull has verified: nothing is hashed twice and no empty piece is mistaken for data. The
// torrent takes no pieces from peers; the pull brings them all.
func (p *pull) seed(ctx context.Context) error {
	if _, err := p.rec.Bind(p.meta); err != nil {
		return err
	}
	tor, err := p.t.Env().Node.Add(ctx, swarm.Spec{Meta: p.meta, DataPath: p.dataPath, Record: p.rec, SeedOnly: true})
	if err != nil {
		return fmt.Errorf("seed %s: %w", p.dataPath, err)
	}
	p.t.Hold(tor)
	p.tor = tor
	return nil
}

// onChunk hashes the pieces of chunk c as they land, checks them against the metainfo when there
// is one, records them and announces them.
func (p *pull) onChunk(c int, data []byte) error {
	tor := p.t.Torrent()
	var err error
	hp := content.Pieces{Size: p.size, PieceLen: p.pieceLen, Done: func(i int, h [sha1.Size]byte) {
		if err != nil {
			return
		}
		if p.meta.Known() && string(h[:]) != string(p.meta.PieceHash(i)) {
			err = fmt.Errorf("%w: source %s does not match the published metainfo at piece %d: the file changed after publishing", fetch.ErrSourceChanged, p.spec.Source, i)
			return
		}
		p.rec.MarkComplete(i, h[:])
		if p.src != nil {
			p.src.Landed(i, h[:])
		}
		if p.pc.add(i) {
			p.t.Have.Add(p.pc.pieceSize(i))
		}
		if tor != nil {
			err = tor.Announce(i)
		}
	}}
	hp.From(c * p.per)
	if _, werr := hp.Write(data); werr != nil {
		return werr
	}
	if err != nil {
		return err
	}
	p.t.MarkFirstByte()
	return nil
}

// pullAll fetches every missing chunk: from the relay ahead of this one when there is one, so the
// origin sends the file about once, else (or when that relay keeps failing) from the origin.
// Chunks already here are never fetched again, whichever source a retry uses.
func (p *pull) pullAll(ctx context.Context) error {
	if p.pc.complete() {
		return nil
	}
	for attempt := 1; attempt <= p.r.cfg.UpstreamTries; attempt++ {
		up := p.upstream(ctx)
		if up == "" {
			break
		}
		p.log.Info("relay pulls from another relay", "from", up)
		err := p.from(ctx, up, false)
		if err == nil || ctx.Err() != nil {
			return err
		}
		p.log.Warn("pull from relay failed", "from", up, "attempt", attempt, "err", err)
		if !retry.Sleep(ctx, retry.Backoff(attempt)) {
			return ctx.Err()
		}
	}
	return p.from(ctx, p.spec.Source, true)
}

// from runs one pull of the missing chunks from url, in the order requests wait for them.
func (p *pull) from(ctx context.Context, url string, fromOrigin bool) error {
	counter := &p.t.HTTPRelay
	if fromOrigin {
		counter = &p.t.HTTPOrigin
	}
	base := counter.Load()
	env := p.t.Env()
	fp := &fetch.Pull{
		URL:     url,
		Client:  env.Pull,
		Size:    p.size,
		Chunk:   int64(p.per) * p.pieceLen,
		Workers: p.r.cfg.Workers,
		Dst:     p.f,
		Have:    p.pc.chunkHave,
		Next:    p.pc.picker(),
		OnChunk: p.onChunk,
	}
	if p.hasZeros() {
		fp.Holes = p.holes // zero pieces are the relay's own (zero.go)
	}
	if fromOrigin {
		fp.Gate = env.Gates.Relay(url) // from a relay the pull needs no lease
		v, err := p.pin(ctx)
		if err != nil {
			return err
		}
		fp.Validator = v
		// An origin outage of a minute is waited out; Retry-After stretches it (fetch bounds
		// the whole at 10 minutes).
		fp.Retries = originRetries
	}
	done, counted := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(counted)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			counter.Store(base + fp.Bytes())
			select {
			case <-done:
				counter.Store(base + fp.Bytes())
				return
			case <-tick.C:
			}
		}
	}()
	err := fp.Run(ctx)
	close(done)
	<-counted
	if fromOrigin && fp.Validator.IsZero() && !fp.Pinned().IsZero() {
		p.savePin(fp.Pinned())
	}
	if err != nil {
		return fmt.Errorf("pull %s: %w", url, err)
	}
	return nil
}

// upstream returns the content URL of the relay this one takes the file from, or "" to pull the
// origin. Relays line up by host name: the first online relay of the distribution pulls the
// origin, every other one pulls the first, so the origin sends the file about once and no two
// relays ever wait on each other.
func (p *pull) upstream(ctx context.Context) string {
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	peers, err := p.t.Peers().Wait(wctx)
	if err != nil {
		return ""
	}
	name := p.t.Env().Name
	var best api.Peer
	for _, m := range peers {
		if m.Relay && m.HTTPURL != "" && m.Host < name && (best.Host == "" || m.Host < best.Host) {
			best = m
		}
	}
	if best.Host == "" {
		return ""
	}
	return p.t.Peers().ContentURL(best)
}

// publish hands the computed metainfo to the controller, retrying while it is unreachable.
func (p *pull) publish(ctx context.Context) error {
	ctl := p.t.Env().API
	for attempt := 1; ; attempt++ {
		pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := ctl.PutMetainfo(pctx, p.spec.DistID, p.meta.Raw)
		cancel()
		if err == nil {
			return nil
		}
		var se *api.StatusError
		if errors.As(err, &se) && se.Status/100 == 4 {
			return fmt.Errorf("publish metainfo of %s: %w", p.spec.DistID, err)
		}
		if !retry.Sleep(ctx, retry.Backoff(attempt)) {
			return ctx.Err()
		}
	}
}

// pinned is the version of the origin's file a relay pulls, kept beside the pull so that a
// restarted relay, or a later pull of the same relay, never mixes two versions in one file.
type pinned struct {
	Size         int64  `json:"size"`
	ETag         string `json:"etag,omitempty"`
	LastModified string `json:"last_modified,omitempty"`
}

const (
	// probeTries bounds the tries of the probe that pins the origin's version.
	probeTries = 6
	// originRetries is how often one range from the origin is tried again after a passing
	// fault: about a minute of back-off.
	originRetries = 10
)

func (p *pull) pinPath() string { return filepath.Join(p.t.Dir(), "origin.json") }

// pin answers the validator of the origin's file: the one kept from an earlier pull, else the
// origin's answer now. A size other than the push's is final.
func (p *pull) pin(ctx context.Context) (fetch.Validator, error) {
	var kept pinned
	if b, err := os.ReadFile(p.pinPath()); err == nil && json.Unmarshal(b, &kept) == nil && kept.Size == p.size {
		return fetch.Validator{ETag: kept.ETag, LastModified: kept.LastModified}, nil
	}
	var size int64
	var v fetch.Validator
	var err error
	for attempt := 1; ; attempt++ {
		size, v, err = fetch.ProbeValidator(ctx, p.t.Env().Pull, p.spec.Source)
		if err == nil || fetch.Final(err) || attempt == probeTries || ctx.Err() != nil {
			break
		}
		// A passing fault (5xx, 429, the network): wait as the origin asks, or back off.
		wait := retry.Backoff(attempt)
		var se *fetch.SourceError
		if errors.As(err, &se) && se.RetryAfter > wait {
			wait = se.RetryAfter
		}
		p.log.Info("origin probe failed, retrying", "err", err, "attempt", attempt, "wait", wait)
		if !retry.Sleep(ctx, wait) {
			return fetch.Validator{}, ctx.Err()
		}
	}
	if err != nil {
		return fetch.Validator{}, fmt.Errorf("probe %s: %w", p.spec.Source, err)
	}
	if size != p.size {
		return fetch.Validator{}, &fetch.SourceError{URL: p.spec.Source, Status: http.StatusOK, Kind: fetch.ErrSourceChanged,
			Reason: fmt.Sprintf("origin file changed size: was %d at push time, now %d: push it again", p.size, size)}
	}
	p.savePin(v)
	return v, nil
}

func (p *pull) savePin(v fetch.Validator) {
	if v.IsZero() {
		return
	}
	if err := atomicfile.WriteJSON(p.pinPath(), pinned{Size: p.size, ETag: v.ETag, LastModified: v.LastModified}); err != nil {
		p.log.Warn("origin version not kept", "err", err)
	}
}
