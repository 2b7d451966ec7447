package daemon

import (
	"bytes"
	"context"
	"crypto/sha1"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"dist/core/api"
	"dist/core/content"
	"dist/core/fetch"
	"dist/core/swarm"
)

// pieceRecord persists, per piece, whether the relay has it and its SHA-1, so a restarted relay
// neither refetches nor rehashes what it already pulled. Layout: 21 bytes a piece, flag then hash.
// Marks reach the file only after the data they vouch for was synced (flush), so a power cut can
// lose progress but never leave the record claiming bytes that are not on disk.
type pieceRecord struct {
	f *os.File
	n int

	mu      sync.Mutex
	pending map[int][]byte // marks waiting for the next data sync
}

const recSize = 1 + sha1.Size

func openRecord(path string, n int) (*pieceRecord, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("piece record %s: %w", path, err)
	}
	if err := f.Truncate(int64(n * recSize)); err != nil {
		f.Close()
		return nil, fmt.Errorf("piece record %s: %w", path, err)
	}
	return &pieceRecord{f: f, n: n, pending: map[int][]byte{}}, nil
}

// mark notes that piece i landed with this hash; the next flush persists it.
func (r *pieceRecord) mark(i int, hash []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pending[i] = bytes.Clone(hash)
}

// flush syncs the data file, then writes the marks made before the sync.
func (r *pieceRecord) flush(data *os.File) error {
	r.mu.Lock()
	batch := r.pending
	r.pending = map[int][]byte{}
	r.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	err := data.Sync()
	if err == nil {
		for i, h := range batch {
			if err = r.set(i, h); err != nil {
				break
			}
		}
	}
	if err != nil {
		r.mu.Lock()
		for i, h := range batch { // keep them for the next flush
			if _, newer := r.pending[i]; !newer {
				r.pending[i] = h
			}
		}
		r.mu.Unlock()
		return fmt.Errorf("piece record: %w", err)
	}
	return nil
}

func (r *pieceRecord) get(i int) (ok bool, hash []byte) {
	b := make([]byte, recSize)
	if _, err := r.f.ReadAt(b, int64(i*recSize)); err != nil || b[0] != 1 {
		return false, nil
	}
	return true, b[1:]
}

func (r *pieceRecord) set(i int, hash []byte) error {
	b := make([]byte, recSize)
	b[0] = 1
	copy(b[1:], hash)
	_, err := r.f.WriteAt(b, int64(i*recSize))
	return err
}

// flushEvery flushes the record every period until stop, which flushes a last time.
func (r *pieceRecord) flushEvery(period time.Duration, data *os.File, log *slog.Logger) (stop func()) {
	done, exited := make(chan struct{}), make(chan struct{})
	flush := func() {
		if err := r.flush(data); err != nil {
			log.Warn("pulled pieces not recorded yet", "err", err)
		}
	}
	go func() {
		defer close(exited)
		tick := time.NewTicker(period)
		defer tick.Stop()
		for {
			select {
			case <-done:
				flush()
				return
			case <-tick.C:
				flush()
			}
		}
	}()
	return func() {
		close(done)
		<-exited
	}
}

func (r *pieceRecord) close() error { return r.f.Close() }

// pullClient keeps one idle connection per pull worker, so parallel Range requests reuse them.
var pullClient = &http.Client{Transport: &http.Transport{
	Proxy:                 http.ProxyFromEnvironment,
	MaxIdleConnsPerHost:   8,
	ResponseHeaderTimeout: time.Minute,
	IdleConnTimeout:       90 * time.Second,
}}

const (
	// defaultStartThreshold is the share of the file a relay holds before it serves over HTTP: a
	// small lead keeps it ahead of its first clients.
	defaultStartThreshold = 0.03
	// startWaiters waiting requests make a relay serve before it holds the threshold.
	startWaiters = 2
	// relayChunk is the least a relay asks for in one Range request: small enough that the first
	// bytes land soon and waiting requests are answered soon, large enough to be worth the trip.
	relayChunk = 1 << 20
	// relayWorkers is the number of parallel Range connections of one pull.
	relayWorkers = 4
	// serveWait bounds how long a request waits for bytes the relay does not have yet. It stays
	// under pullClient's header timeout, so a relay pulling from another relay gets an answer.
	serveWait = 45 * time.Second
	// upstreamTries is how often a relay tries the relay ahead of it before it pulls the origin.
	upstreamTries = 3
)

// errPullFailed is what requests waiting on a relay get when its pull gave up.
var errPullFailed = errors.New("the relay's pull failed")

// runRelay pulls the source with parallel Range requests, hashing pieces as they land, while it
// serves what it has over HTTP and (when the metainfo is known) BitTorrent; publishes the metainfo
// when the source came without one; then keeps seeding.
func (t *task) runRelay(ctx context.Context, log *slog.Logger) error {
	t.setState(api.TaskDownloading)
	size := t.spec.Size
	var meta *content.Meta
	pieceLen := t.spec.PieceLen
	if len(t.spec.Metainfo) > 0 {
		m, err := content.Parse(t.spec.Metainfo)
		if err != nil {
			return fmt.Errorf("metainfo of %s: %w", t.spec.DistID, err)
		}
		if m.Size != size {
			return fmt.Errorf("metainfo of %s says %d bytes, the source has %d", t.spec.DistID, m.Size, size)
		}
		meta, pieceLen = &m, m.PieceLen
	}
	if pieceLen <= 0 {
		pieceLen = content.PieceLength(size)
	}
	n := int((size + pieceLen - 1) / pieceLen)
	dir := t.dir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("relay directory %s: %w", dir, err)
	}
	dataPath := filepath.Join(dir, safeName(t.spec.Name))
	f, err := os.OpenFile(dataPath, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("relay file %s: %w", dataPath, err)
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		return fmt.Errorf("relay file %s: %w", dataPath, err)
	}
	rec, err := openRecord(filepath.Join(dir, "pull.record"), n)
	if err != nil {
		f.Close()
		return err
	}
	defer rec.close()

	// A chunk is a whole number of pieces, so every piece lands whole and is hashed at once.
	per := max(1, int(relayChunk/pieceLen))
	pc := newPulled(size, pieceLen, per, t.startThreshold())
	for i := range n {
		if ok, _ := rec.get(i); ok {
			pc.add(i)
		}
	}
	t.have.Store(pc.held())
	if pc.held() > 0 {
		log.Info("relay resumes pull", "have", pc.held(), "size", size)
	}
	t.mu.Lock()
	t.file, t.pulled = f, pc
	t.mu.Unlock()

	// With the metainfo known, the swarm starts now: each piece is announced as soon as it is here.
	var tor *swarm.Torrent
	btRecord := filepath.Join(dir, "bt.pieces")
	if meta != nil {
		if tor, err = t.seedWhilePulling(ctx, dataPath, btRecord, f, pc); err != nil {
			return err
		}
		go t.sample(ctx, tor, nil)
	}

	onChunk := func(c int, data []byte) error {
		for k := range per {
			i := c*per + k
			if i >= n {
				break
			}
			off := int64(k) * pieceLen
			p := data[off : off+pc.pieceSize(i)]
			h := sha1.Sum(p)
			if meta != nil && !bytes.Equal(h[:], meta.PieceHash(i)) {
				return fmt.Errorf("source %s does not match the published metainfo at piece %d: the file changed after publishing", t.spec.Source, i)
			}
			rec.mark(i, h[:])
			if pc.add(i) {
				t.have.Add(int64(len(p)))
			}
			if tor != nil {
				if err := tor.MarkVerified(i); err != nil {
					return err
				}
			}
		}
		t.markFirstByte()
		return nil
	}
	stopFlush := rec.flushEvery(time.Second, f, log)
	start := time.Now()
	err = t.pullAll(ctx, log, pc, int64(per)*pieceLen, f, onChunk)
	stopFlush()
	if err != nil {
		pc.fail(err)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return err
	}
	t.mu.Lock()
	t.doneAt = time.Now().UnixMilli()
	t.mu.Unlock()
	log.Info("relay pulled source", "bytes", size, "from_origin", t.httpOrigin.Load(), "from_relays", t.httpRelay.Load(),
		"took", time.Since(start).Round(time.Millisecond))

	mi := t.spec.Metainfo
	if meta == nil {
		pieces := make([]byte, 0, n*sha1.Size)
		for i := range n {
			ok, h := rec.get(i)
			if !ok {
				return fmt.Errorf("pull of %s ended with piece %d missing", t.spec.Source, i)
			}
			pieces = append(pieces, h...)
		}
		mi, _, err = content.Build(safeName(t.spec.Name), size, pieceLen, pieces)
		if err != nil {
			return fmt.Errorf("metainfo of %s: %w", t.spec.DistID, err)
		}
		if err := t.publishMetainfo(ctx, mi); err != nil {
			return err
		}
	}
	t.complete.Store(true)
	t.setState(api.TaskSeeding)
	if tor != nil {
		<-ctx.Done() // seeding since the first piece; sample runs until ctx ends
		return nil
	}
	tor, err = t.d.node.Add(ctx, swarm.Spec{Metainfo: mi, DataPath: dataPath, CompletionPath: btRecord, Complete: true})
	if err != nil {
		return fmt.Errorf("seed %s: %w", dataPath, err)
	}
	t.holdTorrent(tor)
	t.sample(ctx, tor, nil)
	return nil
}

// startThreshold is the share of the file the relay holds before it serves.
func (t *task) startThreshold() float64 {
	if th := t.settings().StartThreshold; th > 0 && th <= 1 {
		return th
	}
	return defaultStartThreshold
}

// seedWhilePulling adds the torrent over the relay's file with a completion record that says
// exactly which pieces the pull has verified, so nothing is hashed twice and no empty piece is
// mistaken for data; the torrent takes no pieces from peers, the pull brings them all.
func (t *task) seedWhilePulling(ctx context.Context, dataPath, btRecord string, f *os.File, pc *pulled) (*swarm.Torrent, error) {
	if err := f.Sync(); err != nil {
		return nil, fmt.Errorf("relay file %s: %w", dataPath, err)
	}
	if err := swarm.WriteCompletion(t.spec.Metainfo, btRecord, pc.has); err != nil {
		return nil, err
	}
	tor, err := t.d.node.Add(ctx, swarm.Spec{Metainfo: t.spec.Metainfo, DataPath: dataPath, CompletionPath: btRecord, SeedOnly: true})
	if err != nil {
		return nil, fmt.Errorf("seed %s: %w", dataPath, err)
	}
	t.holdTorrent(tor)
	return tor, nil
}

// pullAll fetches every missing chunk: from the relay ahead of this one when there is one, so the
// origin sends the file about once, else (or when that relay keeps failing) from the origin.
// Chunks already here are never fetched again, whichever source a retry uses.
func (t *task) pullAll(ctx context.Context, log *slog.Logger, pc *pulled, chunk int64, f *os.File, onChunk func(int, []byte) error) error {
	if pc.complete() {
		return nil
	}
	for attempt := 1; attempt <= upstreamTries; attempt++ {
		up := t.upstreamRelay(ctx)
		if up == "" {
			break
		}
		log.Info("relay pulls from another relay", "from", up)
		err := t.pullFrom(ctx, up, false, pc, chunk, f, onChunk)
		if err == nil || ctx.Err() != nil {
			return err
		}
		log.Warn("pull from relay failed", "from", up, "attempt", attempt, "err", err)
		if !sleepCtx(ctx, backoff(attempt)) {
			return ctx.Err()
		}
	}
	return t.pullFrom(ctx, t.spec.Source, true, pc, chunk, f, onChunk)
}

// pullFrom runs one pull of the missing chunks from url, in the order requests wait for them.
func (t *task) pullFrom(ctx context.Context, url string, fromOrigin bool, pc *pulled, chunk int64, f *os.File, onChunk func(int, []byte) error) error {
	counter := &t.httpRelay
	if fromOrigin {
		counter = &t.httpOrigin
	}
	base := counter.Load()
	// From the origin (fromOrigin) this pull goes through the origin gate; from a relay it needs none.
	pull := &fetch.Pull{
		URL:     url,
		Client:  pullClient,
		Size:    t.spec.Size,
		Chunk:   chunk,
		Workers: relayWorkers,
		Dst:     f,
		Have:    pc.chunkHave,
		Next:    pc.picker(),
		OnChunk: onChunk,
	}
	if fromOrigin {
		pull.Gate = t.d.relayGate(url)
	}
	done, counted := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(counted)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			counter.Store(base + pull.Bytes())
			select {
			case <-done:
				counter.Store(base + pull.Bytes())
				return
			case <-tick.C:
			}
		}
	}()
	err := pull.Run(ctx)
	close(done)
	<-counted
	if err != nil {
		return fmt.Errorf("pull %s: %w", url, err)
	}
	return nil
}

// upstreamRelay returns the content URL of the relay this one takes the file from, or "" to pull
// the origin. Relays line up by host name: the first online relay of the distribution pulls the
// origin, every other one pulls the first, so the origin sends the file about once and no two
// relays ever wait on each other.
func (t *task) upstreamRelay(ctx context.Context) string {
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	peers, err := t.d.api.Peers(pctx, t.spec.DistID, t.d.cfg.Name)
	cancel()
	if err != nil {
		return ""
	}
	var best api.Peer
	for _, p := range peers {
		if p.Relay && p.HTTPURL != "" && p.Host < t.d.cfg.Name && (best.Host == "" || p.Host < best.Host) {
			best = p
		}
	}
	if best.Host == "" {
		return ""
	}
	return strings.TrimRight(best.HTTPURL, "/") + api.ContentPath(t.spec.DistID)
}

// publishMetainfo hands the computed metainfo to the controller, retrying while it is unreachable.
func (t *task) publishMetainfo(ctx context.Context, mi []byte) error {
	for attempt := 1; ; attempt++ {
		pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := t.d.api.PutMetainfo(pctx, t.spec.DistID, mi)
		cancel()
		if err == nil {
			return nil
		}
		var se *api.StatusError
		if errors.As(err, &se) && se.Status/100 == 4 {
			return fmt.Errorf("publish metainfo of %s: %w", t.spec.DistID, err)
		}
		if !sleepCtx(ctx, backoff(attempt)) {
			return ctx.Err()
		}
	}
}

// pulled is what a relay holds of the file while it pulls: the pieces that have landed (verified
// against the metainfo when there is one), the pieces waiting requests want, and whether serving
// has started.
type pulled struct {
	size, pieceLen int64
	per            int   // pieces per pull chunk
	threshold      int64 // bytes held before serving starts

	mu      sync.Mutex
	have    []bool
	bytes   int64         // in the pieces that have landed
	open    bool          // serving has started
	waiting int           // requests waiting for bytes
	demand  []int         // pieces waited for, oldest first
	err     error         // the pull gave up
	changed chan struct{} // closed and replaced on every change
}

func newPulled(size, pieceLen int64, per int, threshold float64) *pulled {
	n := int((size + pieceLen - 1) / pieceLen)
	return &pulled{
		size: size, pieceLen: pieceLen, per: per,
		threshold: max(1, int64(math.Ceil(threshold*float64(size)))),
		have:      make([]bool, n),
		changed:   make(chan struct{}),
	}
}

func (p *pulled) pieceSize(i int) int64 { return min(p.pieceLen, p.size-int64(i)*p.pieceLen) }

func (p *pulled) chunks() int { return (len(p.have) + p.per - 1) / p.per }

// wake tells every waiter that something changed; callers hold p.mu.
func (p *pulled) wake() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// openIfDue starts serving once the relay holds the threshold or several requests wait; callers
// hold p.mu.
func (p *pulled) openIfDue() {
	if !p.open && (p.bytes >= p.threshold || p.waiting >= startWaiters) {
		p.open = true
		p.wake()
	}
}

// add records that piece i has landed, and reports whether it is new.
func (p *pulled) add(i int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.have[i] {
		return false
	}
	p.have[i] = true
	p.bytes += p.pieceSize(i)
	p.openIfDue()
	p.wake()
	return true
}

// fail makes every waiting and later request answer that the pull failed.
func (p *pulled) fail(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err == nil {
		p.err = err
	}
	p.wake()
}

func (p *pulled) has(i int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.have[i]
}

func (p *pulled) held() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.bytes
}

func (p *pulled) complete() bool { return p.held() == p.size }

// chunkHave reports whether every piece of pull chunk c has landed; callers do not hold p.mu.
func (p *pulled) chunkHave(c int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.chunkHaveLocked(c)
}

func (p *pulled) chunkHaveLocked(c int) bool {
	for i := c * p.per; i < min((c+1)*p.per, len(p.have)); i++ {
		if !p.have[i] {
			return false
		}
	}
	return true
}

// picker returns a fetch.Pull Next function for one pull: the chunks waiting requests want come
// first, oldest wait first; then the lowest chunk not handed out yet.
func (p *pulled) picker() func() (int, bool) {
	given := make([]bool, p.chunks())
	next := 0
	return func() (int, bool) {
		p.mu.Lock()
		defer p.mu.Unlock()
		for len(p.demand) > 0 {
			c := p.demand[0] / p.per
			p.demand = p.demand[1:]
			if !given[c] && !p.chunkHaveLocked(c) {
				given[c] = true
				return c, true
			}
		}
		for next < len(given) {
			c := next
			next++
			if !given[c] && !p.chunkHaveLocked(c) {
				given[c] = true
				return c, true
			}
		}
		return 0, false
	}
}

// waitFor blocks until the byte at off can be served, and returns how many bytes from off can be
// read at once (up to the next piece not here yet). While it waits, the piece is pulled next and
// the request counts towards starting to serve early.
func (p *pulled) waitFor(ctx context.Context, off int64) (int64, error) {
	i := int(off / p.pieceLen)
	p.mu.Lock()
	defer p.mu.Unlock()
	counted := false
	defer func() {
		if counted {
			p.waiting--
		}
	}()
	for {
		if p.have[i] && (p.open || p.bytes == p.size) {
			end := i + 1
			for end < len(p.have) && p.have[end] {
				end++
			}
			return min(int64(end)*p.pieceLen, p.size) - off, nil
		}
		if p.err != nil {
			return 0, fmt.Errorf("%w: %w", errPullFailed, p.err)
		}
		if !counted {
			counted = true
			p.waiting++
			if !p.have[i] {
				p.demand = append(p.demand, i)
			}
			p.openIfDue()
			continue
		}
		ch := p.changed
		p.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
		}
		p.mu.Lock()
		if err := ctx.Err(); err != nil {
			return 0, err
		}
	}
}

// pulledReader reads a relay's file for HTTP, waiting for bytes that have not landed yet.
type pulledReader struct {
	ctx context.Context
	p   *pulled
	f   *os.File
}

func (r pulledReader) ReadAt(b []byte, off int64) (int, error) {
	if off >= r.p.size {
		return 0, io.EOF
	}
	ctx, cancel := context.WithTimeout(r.ctx, serveWait)
	avail, err := r.p.waitFor(ctx, off)
	cancel()
	if err != nil {
		return 0, err
	}
	return r.f.ReadAt(b[:min(int64(len(b)), avail)], off)
}

// serveContent answers HTTP Range requests for a distribution this host relays (also while the
// relay still pulls it) or has finished as a client.
func (d *Daemon) serveContent(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	d.mu.Lock()
	var t *task
	for _, x := range d.tasks {
		if x.spec.DistID == id && (x.spec.Role == api.RoleRelay || x.complete.Load()) {
			t = x
			if x.spec.Role == api.RoleRelay {
				break
			}
		}
	}
	d.mu.Unlock()
	if t == nil {
		httpError(w, http.StatusNotFound, api.CodeNotFound, "distribution "+id+" is not served here")
		return
	}
	t.mu.Lock()
	f, pc, tctx := t.file, t.pulled, t.ctx
	name, size := t.spec.Name, t.spec.Size
	t.mu.Unlock()
	w.Header().Set("Content-Type", "application/octet-stream")
	if !t.complete.Load() {
		if f == nil || pc == nil || tctx == nil {
			// The relay task is starting: its file is not open yet.
			w.Header().Set("Retry-After", "1")
			httpError(w, http.StatusServiceUnavailable, "not_ready", "distribution "+id+" is starting on this relay: retry")
			return
		}
		// A request waits no longer than the task runs: a stopping relay lets its readers go.
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		defer context.AfterFunc(tctx, cancel)()
		if r.Method == http.MethodGet {
			if off := rangeStart(r.Header.Get("Range"), size); off < size {
				wctx, wcancel := context.WithTimeout(ctx, serveWait)
				_, err := pc.waitFor(wctx, off)
				wcancel()
				switch {
				case err == nil:
				case ctx.Err() != nil:
					return // the caller or the task is gone
				case errors.Is(err, errPullFailed):
					httpError(w, http.StatusBadGateway, api.CodeSource, "distribution "+id+": "+err.Error())
					return
				default:
					w.Header().Set("Retry-After", "2")
					httpError(w, http.StatusServiceUnavailable, "not_ready",
						fmt.Sprintf("distribution %s: byte %d has not reached this relay within %s: retry", id, off, serveWait))
					return
				}
			}
		}
		// Bytes are sent as they land; a pull that fails mid-body cuts the answer short.
		http.ServeContent(w, r, name, time.Time{}, io.NewSectionReader(pulledReader{ctx, pc, f}, 0, size))
		return
	}
	if f == nil {
		// A finished client serves from its destination file.
		var err error
		f, err = os.Open(t.destPath())
		if err != nil {
			httpError(w, http.StatusNotFound, api.CodeNotFound, "distribution "+id+" is not served here")
			return
		}
		defer f.Close()
	}
	// A section reader per request: concurrent requests must not share the file's offset.
	http.ServeContent(w, r, name, time.Time{}, io.NewSectionReader(f, 0, size))
}

// rangeStart returns the first byte a Range header asks for (the first range of several), 0 for
// none, and size for one it cannot read, which then waits for nothing and is answered as usual.
func rangeStart(h string, size int64) int64 {
	if h == "" {
		return 0
	}
	spec, ok := strings.CutPrefix(h, "bytes=")
	if !ok {
		return size
	}
	first, _, _ := strings.Cut(spec, ",")
	a, b, ok := strings.Cut(strings.TrimSpace(first), "-")
	if !ok {
		return size
	}
	if a == "" { // a suffix range: the last b bytes
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n <= 0 {
			return size
		}
		return max(0, size-n)
	}
	off, err := strconv.ParseInt(a, 10, 64)
	if err != nil || off < 0 {
		return size
	}
	return off
}
