// Package early moves a URL source's pieces between hosts over HTTP while the relay still pulls
// it, before the metainfo exists. The relay gives each piece it has hashed to one client — that
// client's stripe — so its uplink carries each byte about once; clients fetch the pieces they lack
// from each other from the first piece on, and check every piece against the relay's hash before
// it is written or served. A client that no peer can help (a piece its holder lost, a lone
// client) asks the relay for what it lacks. Once the pieces are all here and the metainfo exists,
// they are bound to it and BitTorrent seeds them.
//
// Routes, under /v1/early/{id} on every host's HTTP listener:
//
//	GET  hashes?from=S  the relay's piece hashes from landing S on (a long poll)
//	POST take[?need=1]  the relay gives one piece the client (its have bitmap in the body) lacks
//	GET  have?v=V       a host's have bitmap once it differs from version V (a long poll)
//	GET  piece/{i}      a verified piece
package early

import (
	"net/http"
	"sync"
	"time"
)

// Config tunes the exchange; zero fields take the defaults.
type Config struct {
	// Wait bounds a long poll (hashes, have); TakeWait a take that finds nothing to give yet.
	Wait, TakeWait time.Duration
	// Coalesce is how long a have answer waits after a change, so one answer carries several.
	Coalesce time.Duration
	// Workers is how many pieces a client fetches from its peers at once; PerPeer how many of
	// them from one peer. A piece fetch is bound by its round trips, not by the link, so the
	// intake is about Workers pieces per fetch time: with 6 in flight, clients of a relay sending
	// 89 Mbit/s took only 91 % of it and finished 4 s after the relay (netlab, 8 hosts); with 12
	// they keep up with it at 8 hosts, but at 16 (15 peers sharing each uplink) they took 82 % of
	// it and ended at 1.55 × the fluid bound; with 32, at 1.26–1.28, and 48 gained nothing more.
	Workers, PerPeer int
	// PieceTimeout bounds one piece fetch.
	PieceTimeout time.Duration
	// Stall is how long a client with the metainfo known goes on without a new piece before it
	// hands the rest to BitTorrent.
	Stall time.Duration
}

// Defaults of Config.
const (
	DefaultWait         = 20 * time.Second
	DefaultTakeWait     = time.Second
	DefaultCoalesce     = 150 * time.Millisecond
	DefaultWorkers      = 32
	DefaultPerPeer      = 3
	DefaultPieceTimeout = 30 * time.Second
	DefaultStall        = 5 * time.Second
	// DefaultGrace is how long after a piece was given the relay gives it again to a client in
	// need: time for its holder to pass it on.
	DefaultGrace = 3 * time.Second
)

func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.Wait, DefaultWait)
	def(&c.TakeWait, DefaultTakeWait)
	def(&c.Coalesce, DefaultCoalesce)
	def(&c.PieceTimeout, DefaultPieceTimeout)
	def(&c.Stall, DefaultStall)
	if c.Workers <= 0 {
		c.Workers = DefaultWorkers
	}
	if c.PerPeer <= 0 {
		c.PerPeer = DefaultPerPeer
	}
	return c
}

// Path is where a host answers the exchange of distribution id.
func Path(id string) string { return "/v1/early/" + id }

// Headers of the exchange's answers.
const (
	hdrPiece     = "Dist-Piece"      // the index of the piece a take gives
	hdrHash      = "Dist-Piece-Hash" // its SHA-1, hex
	hdrNext      = "Dist-Next"       // the landing to ask hashes from next
	hdrVersion   = "Dist-Version"    // the version of a have bitmap
	hdrExhausted = "Dist-Exhausted"  // every piece was given once: no fresh piece will come
	hdrSize      = "Dist-Size"       // the file's size and piece length, so both sides cut alike
	hdrPieceLen  = "Dist-Piece-Length"
)

// Registry holds the exchanges a host takes part in: a relay's source, a client's member.
type Registry struct {
	cfg Config
	mu  sync.Mutex
	src map[string]*Source
	mem map[string]*Member
}

// NewRegistry answers an empty registry.
func NewRegistry(cfg Config) *Registry {
	return &Registry{cfg: cfg.withDefaults(), src: make(map[string]*Source), mem: make(map[string]*Member)}
}

// AddSource makes s the relay's side of distribution id until the returned function is called.
func (r *Registry) AddSource(id string, s *Source) (drop func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.src[id] = s
	return func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.src[id] == s {
			delete(r.src, id)
		}
	}
}

// AddMember makes m the client's side of distribution id until the returned function is called.
func (r *Registry) AddMember(id string, m *Member) (drop func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.mem[id] = m
	return func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.mem[id] == m {
			delete(r.mem, id)
		}
	}
}

func (r *Registry) source(id string) *Source {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.src[id]
}

// holder answers what serves have and piece for id: a client's member, else the relay's source.
func (r *Registry) holder(id string) holder {
	r.mu.Lock()
	defer r.mu.Unlock()
	if m := r.mem[id]; m != nil {
		return m
	}
	if s := r.src[id]; s != nil {
		return s
	}
	return nil
}

// Routes mounts the exchange's routes on mux, each wrapped by wrap when given (the daemon admits
// only members of the distribution named by {id}).
func (r *Registry) Routes(mux *http.ServeMux, wrap ...func(http.HandlerFunc) http.HandlerFunc) {
	w := func(h http.HandlerFunc) http.HandlerFunc {
		for _, f := range wrap {
			h = f(h)
		}
		return h
	}
	mux.HandleFunc("GET /v1/early/{id}/hashes", w(r.hashes))
	mux.HandleFunc("POST /v1/early/{id}/take", w(r.take))
	mux.HandleFunc("GET /v1/early/{id}/have", w(r.have))
	mux.HandleFunc("GET /v1/early/{id}/piece/{i}", w(r.piece))
}
