// Package swarm runs BitTorrent for dist: one anacrolix client per daemon, set up for a private
// LAN swarm whose peers come only from the controller, with each torrent stored in a single plain
// file plus a completion record that survives restarts.
//
// Big images: pieces go up to 64 MiB (content.PieceLength). Peers ask for 256 KiB chunks
// (ChunkSize), so one piece is fetched from many peers at once, and anacrolix's in-flight window
// (MaxUnverifiedBytes, counted in bytes over one piece order for the whole client) is 2 GiB by
// default: 32 of the largest pieces, 128 of 16 MiB. Each connection holds at most 2 MiB read
// for a peer (maxPeerRequestData), so a seed serving many peers keeps its memory flat; a peer's
// request depth follows anacrolix's own rule (up to ~960 chunks queued per connection). All-zero
// pieces are written locally and never requested, and a destination holding an older version
// keeps the pieces that still match (local.go).
package swarm

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/anacrolix/torrent"
	"golang.org/x/time/rate"

	"dist/core/content"
)

// Config sets up a Node.
type Config struct {
	ListenAddr   string       // "127.0.0.1:0", ":6881" ...; "" means ":0"
	Logger       *slog.Logger // nil → slog.Default()
	UploadRate   int64        // bytes/s, 0 = unlimited
	DownloadRate int64        // bytes/s, 0 = unlimited
	// MaxUnverifiedBytes caps data received but not yet hashed, across torrents. It bounds how
	// many pieces are in flight at once; anacrolix's 64 MiB default allows only four 16 MiB
	// pieces (one 64 MiB piece), which starves a fast swarm. 0 → 2 GiB: see defaultMaxUnverifiedBytes.
	MaxUnverifiedBytes int64
	// VerifyAfter is how long a piece hashed by this process is served without being hashed
	// again before the next serve: a seeder whose disk rots notices. 0 → 15 min; negative: never.
	VerifyAfter time.Duration

	chunkSize int      // tests and benchmarks only: 0 → ChunkSize
	crypto    btCrypto // tests and benchmarks only: zero → members only (member.go)
}

const (
	// piecesInFlight is how many of the largest pieces (content.MaxPieceLength, 64 MiB) may be
	// in flight at once by default: the window is counted in bytes over one piece order shared by
	// every peer, so it is what lets many peers work on different pieces while several peers share
	// each one (they request 256 KiB chunks, not pieces). The bytes in flight sit in the data
	// file, not in memory.
	piecesInFlight            = 32
	defaultMaxUnverifiedBytes = piecesInFlight * content.MaxPieceLength // 2 GiB
	defaultVerifyAfter        = 15 * time.Minute
)

// ChunkSize is the BitTorrent request size of every torrent. anacrolix's 16 KiB default costs a
// request, a stats update under the client lock, a hash for smart-ban, a write and an allocation
// on the serving side per 16 KiB: at 256 KiB the same bytes cost a sixteenth of that. Every peer of
// a swarm asks with it; a peer asking with another size is still served (a request of any length
// up to maxPeerRequestData is).
const ChunkSize = 256 << 10

// maxPeerRequestData is what one connection may hold read for a peer and not yet sent: a few
// chunks, so the writer always has the next one at hand.
const maxPeerRequestData = 8 * ChunkSize

// Node is one BitTorrent client: one listening port shared by all its torrents.
type Node struct {
	cl       *torrent.Client
	log      *slog.Logger
	up, down *rate.Limiter
	addr     string
	port     int
	ownIPs   map[netip.Addr]struct{} // addresses that reach this node, to skip ourselves
	ipv6     bool
	verify   time.Duration
	chunk    int

	mu       sync.Mutex
	torrents map[string]*Torrent // by info hash
	closed   bool
}

// New starts a client listening on cfg.ListenAddr (TCP only).
func New(cfg Config) (*Node, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	listen := cfg.ListenAddr
	if listen == "" {
		listen = ":0"
	}
	host, portStr, err := net.SplitHostPort(listen)
	if err != nil {
		return nil, fmt.Errorf("listen address %q: %w", listen, err)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("listen address %q: bad port: %w", listen, err)
	}
	hostIP, hostErr := netip.ParseAddr(host)
	if host != "" && hostErr != nil {
		return nil, fmt.Errorf("listen address %q: host must be an IP address", listen)
	}
	ipv6 := hostErr == nil && hostIP.Is6() && !hostIP.Is4In6()

	n := &Node{
		log:      log,
		up:       newLimiter(cfg.UploadRate),
		down:     newLimiter(cfg.DownloadRate),
		ipv6:     ipv6,
		torrents: make(map[string]*Torrent),
		verify:   cfg.VerifyAfter,
		chunk:    cmp.Or(cfg.chunkSize, ChunkSize),
	}
	switch {
	case n.verify == 0:
		n.verify = defaultVerifyAfter
	case n.verify < 0:
		n.verify = 0
	}

	tc := torrent.NewDefaultClientConfig()
	tc.ListenHost = func(string) string { return host }
	tc.ListenPort = int(port)
	// Private LAN swarm: peers come only from AddPeers (the controller), nothing is announced or
	// looked up anywhere else, and nothing dials out to the internet.
	tc.Seed = true // without it leechers barely upload and finished nodes stop accepting peers
	tc.NoDHT = true
	tc.PeriodicallyAnnounceTorrentsToDht = false
	tc.DhtStartingNodes = nil
	tc.DisablePEX = true
	tc.DisableTrackers = true
	tc.DisableWebtorrent = true
	tc.DisableWebseeds = true // HTTP gap filling is ours (InjectPiece), not BEP 19
	tc.NoDefaultPortForwarding = true
	tc.DisableUTP = true
	tc.DisableIPv6 = !ipv6
	tc.DisableIPv4 = ipv6
	// Only hosts that know a torrent's info hash may connect to it (member.go).
	applyMembership(tc, cfg.crypto)
	// Many peers may share one address (every test node is 127.0.0.1); never rate-limit accepts
	// by source IP. This is anacrolix's default, pinned here because it matters.
	tc.DisableAcceptRateLimiting = true
	// LAN peers are few hops away and handed out in bursts by the controller.
	tc.DialRateLimiter = rate.NewLimiter(100, 50)
	tc.MaxUnverifiedBytes = cfg.MaxUnverifiedBytes
	if tc.MaxUnverifiedBytes <= 0 {
		tc.MaxUnverifiedBytes = defaultMaxUnverifiedBytes
	}
	tc.PieceHashersPerTorrent = max(2, runtime.NumCPU()/2)
	tc.MaxAllocPeerRequestDataPerConn = maxPeerRequestData
	// Non-nil limiters even when unlimited, so SetRates can change them later.
	tc.UploadRateLimiter = n.up
	tc.DownloadRateLimiter = n.down
	tc.DefaultStorage = refuseStorage{}
	tc.Slogger = slog.New(floorHandler{h: log.With("component", "anacrolix").Handler(), min: libraryLogFloor})

	cl, err := torrent.NewClient(tc)
	if err != nil {
		return nil, fmt.Errorf("start bittorrent client on %s: %w", listen, err)
	}
	n.cl = cl
	addrs := cl.ListenAddrs()
	if len(addrs) == 0 {
		cl.Close()
		return nil, fmt.Errorf("start bittorrent client on %s: no listener", listen)
	}
	n.addr = addrs[0].String()
	n.port = cl.LocalPort()
	n.ownIPs = ownIPs(hostIP, hostErr == nil && !hostIP.IsUnspecified())
	return n, nil
}

// newLimiter returns a limiter for bytes/s, rate.Inf when unlimited.
func newLimiter(bps int64) *rate.Limiter {
	l := rate.NewLimiter(rate.Inf, 0)
	setLimit(l, bps)
	return l
}

// minBurst is at least the largest read anacrolix makes through the download limiter and the
// largest chunk it reserves on the upload one; a smaller burst panics or stalls, and a finite
// upload limit refuses requests longer than its burst.
const minBurst = max(1<<20, ChunkSize)

// burstPerSecond sets a finite limit's burst to a twentieth of a second of traffic (50 ms).
const burstPerSecond = 20

func setLimit(l *rate.Limiter, bps int64) {
	if bps <= 0 {
		// Never SetLimit(0): a limited reader would wait forever.
		l.SetLimit(rate.Inf)
		l.SetBurst(minBurst)
		return
	}
	// Burst first: shrinking it also drops the tokens saved up while unlimited. A burst of a
	// second's worth would let a sender idle for a moment (waiting for pieces) flood the uplink's
	// queue afterwards, delaying the acknowledgements of the host's own pull: keep it to 50 ms of
	// traffic.
	l.SetBurst(int(min(max(bps/burstPerSecond, minBurst), math.MaxInt32)))
	l.SetLimit(rate.Limit(bps))
}

// PaceUpload waits until n more bytes may leave under the node's upload limit (Config.UploadRate,
// SetRates): what the host sends besides BitTorrent (a relay's HTTP answers) then shares one
// budget with it, so a limit a little below the uplink keeps the uplink's queue short and the
// acknowledgements of the host's own downloads flowing. Unlimited, it returns at once.
func (n *Node) PaceUpload(ctx context.Context, bytes int) error {
	for bytes > 0 {
		step := min(bytes, ChunkSize) // never above the burst (minBurst)
		if err := n.up.WaitN(ctx, step); err != nil {
			return fmt.Errorf("pace upload: %w", err)
		}
		bytes -= step
	}
	return nil
}

// SetRates changes the upload and download limits (bytes/s, 0 = unlimited) of every torrent.
func (n *Node) SetRates(up, down int64) {
	setLimit(n.up, up)
	setLimit(n.down, down)
}

// ownIPs lists the addresses under which peers could hand us our own listener.
func ownIPs(host netip.Addr, specific bool) map[netip.Addr]struct{} {
	out := make(map[netip.Addr]struct{})
	if specific {
		out[host.Unmap()] = struct{}{}
		return out
	}
	out[netip.MustParseAddr("127.0.0.1")] = struct{}{}
	out[netip.IPv6Loopback()] = struct{}{}
	ifAddrs, _ := net.InterfaceAddrs()
	for _, a := range ifAddrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			out[p.Addr().Unmap()] = struct{}{}
		}
	}
	return out
}

// Addr returns the host:port actually bound, e.g. the port chosen for ":0".
func (n *Node) Addr() string { return n.addr }

// Close stops every torrent (their files are closed, not removed) and the listener.
func (n *Node) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	ts := make([]*Torrent, 0, len(n.torrents))
	for _, t := range n.torrents {
		ts = append(ts, t)
	}
	n.mu.Unlock()
	var errs []error
	for _, t := range ts {
		if err := t.Drop(false); err != nil {
			errs = append(errs, err)
		}
	}
	errs = append(errs, n.cl.Close()...)
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close bittorrent client: %w", err)
	}
	return nil
}

// isOwn reports whether addr is this node's own listener.
func (n *Node) isOwn(addr netip.AddrPort) bool {
	if int(addr.Port()) != n.port {
		return false
	}
	_, ok := n.ownIPs[addr.Addr().Unmap()]
	return ok
}

// resolve turns "host:port" into an address anacrolix accepts (it drops names: an unparsable IP
// counts as a bad peer).
func (n *Node) resolve(ctx context.Context, hostport string) ([]netip.AddrPort, error) {
	host, portStr, err := net.SplitHostPort(hostport)
	if err != nil {
		return nil, err
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil || port == 0 {
		return nil, fmt.Errorf("bad port %q", portStr)
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return []netip.AddrPort{netip.AddrPortFrom(ip.Unmap(), uint16(port))}, nil
	}
	network := "ip4"
	if n.ipv6 {
		network = "ip6"
	}
	ips, err := net.DefaultResolver.LookupNetIP(ctx, network, host)
	if err != nil {
		return nil, err
	}
	out := make([]netip.AddrPort, 0, len(ips))
	for _, ip := range ips {
		out = append(out, netip.AddrPortFrom(ip.Unmap(), uint16(port)))
	}
	return out, nil
}

// BannedIPs lists peer addresses this node refuses for the rest of its life because data they
// alone supplied failed its hash (anacrolix bans by IP, across torrents).
func (n *Node) BannedIPs() []string {
	var out []string
	for _, s := range n.cl.BadPeerIPs() {
		if a, err := netip.ParseAddr(s); err == nil {
			s = a.Unmap().String()
		}
		out = append(out, s)
	}
	return out
}
