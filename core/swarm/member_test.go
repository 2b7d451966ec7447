package swarm

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/mse"
	pp "github.com/anacrolix/torrent/peer_protocol"
)

// Policies of anacrolix clients that are not dist nodes.
var (
	plainOnly   = torrent.HeaderObfuscationPolicy{Preferred: false, RequirePreferred: true}
	libDefaults = torrent.NewDefaultClientConfig().HeaderObfuscationPolicy // MSE first, plaintext fallback
)

// newStranger starts a bare anacrolix client on loopback with policy, sharing nothing with dist.
func newStranger(tb testing.TB, policy torrent.HeaderObfuscationPolicy) *torrent.Client {
	tb.Helper()
	cfg := torrent.NewDefaultClientConfig()
	cfg.DataDir = tb.TempDir()
	cfg.ListenHost = func(string) string { return "127.0.0.1" }
	cfg.ListenPort = 0
	cfg.NoDHT = true
	cfg.DisablePEX = true
	cfg.DisableTrackers = true
	cfg.DisableWebtorrent = true
	cfg.DisableWebseeds = true
	cfg.NoDefaultPortForwarding = true
	cfg.DisableUTP = true
	cfg.DisableIPv6 = true
	cfg.HeaderObfuscationPolicy = policy
	cfg.Slogger = testLogger(tb)
	cl, err := torrent.NewClient(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { cl.Close() })
	return cl
}

// addStranger adds the torrent of metainfo mi to a stranger, wanting all of it.
func addStranger(tb testing.TB, cl *torrent.Client, mi []byte) *torrent.Torrent {
	tb.Helper()
	m, err := metainfo.Load(bytes.NewReader(mi))
	if err != nil {
		tb.Fatal(err)
	}
	tt, err := cl.AddTorrent(m)
	if err != nil {
		tb.Fatal(err)
	}
	tt.DownloadAll()
	return tt
}

// settled reports whether t has no dial in progress or queued: every connection it was asked to
// open has either failed or is established.
func settled(t *torrent.Torrent) bool {
	st := t.Stats()
	return st.HalfOpenPeers == 0 && st.PendingPeers == 0
}

// connFlags answers anacrolix's flags of a connection ("e": MSE header then plaintext; "E": RC4).
func connFlags(c *torrent.PeerConn) []string {
	s := c.String()
	_, s, _ = strings.Cut(s, "flags=")
	s, _, _ = strings.Cut(s, " ")
	return strings.Split(s, ",")
}

// Two dist nodes transfer a file under the members-only policy, and the connection between them
// ran the MSE handshake and then plaintext.
func TestMembersTransferOverMSE(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dir := t.TempDir()
	src := makeSource(t, dir, 4*mib, 11)
	// Slow enough (about a second) that the connection is still open when the test looks at it:
	// two complete peers drop each other.
	seedNode := newNode(t, Config{UploadRate: 4 * mib})
	seed := add(t, seedNode, Spec{Meta: src.meta, DataPath: src.path, Complete: true})
	leech := add(t, newNode(t, Config{}), Spec{Meta: src.meta, DataPath: filepath.Join(dir, "out.img")})
	leech.AddPeers([]string{seedNode.Addr()})

	var flags [][]string
	if err := waitFor(ctx, func() bool {
		flags = flags[:0]
		for _, c := range leech.t.PeerConns() {
			flags = append(flags, connFlags(c))
		}
		return len(flags) > 0
	}); err != nil {
		t.Fatalf("no connection to the seed: %v; seed %+v", err, seed.Stats())
	}
	for _, f := range flags {
		if !slices.Contains(f, "e") || slices.Contains(f, "E") {
			t.Errorf("connection flags %v, want MSE header with plaintext payload (e, not E)", f)
		}
	}
	waitDone(t, ctx, leech)
	checkFile(t, leech.DataPath(), src.sha256)
}

// A seeding dist node serves only hosts that know the info hash and speak MSE; a dist node dials
// out only with MSE. Anacrolix clients stand in for strangers: each case waits until the
// stranger's (or the node's) dial is over, then checks what went through.
func TestStrangersGetNothing(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		policy   torrent.HeaderObfuscationPolicy
		otherIH  bool // the stranger asks for a torrent the node does not have
		nodeDial bool // the node dials the stranger instead
		member   bool // the stranger knows the info hash and speaks MSE: served
	}{
		{name: "plain handshake, right info hash", policy: plainOnly},
		{name: "library defaults, unknown info hash", policy: libDefaults, otherIH: true},
		{name: "node dials a plain-only peer", policy: plainOnly, nodeDial: true},
		// Membership is knowing the metainfo: this is what the design lets in.
		{name: "library defaults, right info hash", policy: libDefaults, member: true},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			dir := t.TempDir()
			src := makeSource(t, dir, 2*mib, uint64(20+i))
			seedNode := newNode(t, Config{})
			seed := add(t, seedNode, Spec{Meta: src.meta, DataPath: src.path, Complete: true})
			waitDone(t, ctx, seed)

			mi := src.mi
			if tc.otherIH {
				mi = makeSource(t, t.TempDir(), 2*mib, uint64(40+i)).mi
			}
			cl := newStranger(t, tc.policy)
			st := addStranger(t, cl, mi)
			dialer := st
			if tc.nodeDial {
				seed.AddPeers([]string{cl.ListenAddrs()[0].String()})
				dialer = seed.t
			} else {
				st.AddPeers([]torrent.PeerInfo{{Addr: torrent.StringAddr(seedNode.Addr()), Source: torrent.PeerSourceDirect}})
			}

			if tc.member {
				select {
				case <-st.Complete().On():
				case <-ctx.Done():
					t.Fatalf("a client with the metainfo was not served: %+v", st.Stats())
				}
				if got := seed.Stats().BytesUp; got < src.meta.Size {
					t.Errorf("seed uploaded %d bytes, want %d", got, src.meta.Size)
				}
				return
			}
			if err := waitFor(ctx, func() bool { return settled(dialer) }); err != nil {
				t.Fatalf("dial never ended: %v; %+v", err, dialer.Stats())
			}
			// The dialler's view first: a dial that succeeded is counted active in the same step
			// that ends it; the accepting side may take a moment longer.
			if n := dialer.Stats().ActivePeers; n != 0 {
				t.Errorf("dial ended with %d connection(s)", n)
			}
			ss := st.Stats()
			if ss.ActivePeers != 0 || ss.BytesReadUsefulData.Int64() != 0 || ss.PiecesComplete != 0 {
				t.Errorf("stranger connected or got data: %+v", ss)
			}
			if ns := seed.Stats(); ns.Peers != 0 || ns.BytesUp != 0 {
				t.Errorf("node connected to the stranger: %+v", ns)
			}
		})
	}
}

// The same refusals on the wire, without a library's retries in between: the node never sends a
// BitTorrent handshake to a stranger, while a host that knows the info hash gets one at once.
func TestStrangerHandshakesOnTheWire(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel) // the subtests run after this function returns
	dir := t.TempDir()
	src := makeSource(t, dir, 2*mib, 31)
	seedNode := newNode(t, Config{})
	waitDone(t, ctx, add(t, seedNode, Spec{Meta: src.meta, DataPath: src.path, Complete: true}))
	right := metainfo.NewHashFromHex(src.meta.InfoHash)
	wrong := right
	wrong[0] ^= 0xff

	cases := []struct {
		name    string
		mse     bool
		skey    metainfo.Hash // MSE's secret: the info hash the stranger believes in
		wantErr bool
	}{
		{name: "plain handshake", skey: right, wantErr: true},
		{name: "MSE with a wrong info hash", mse: true, skey: wrong, wantErr: true},
		{name: "MSE with the info hash", mse: true, skey: right},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			var d net.Dialer
			c, err := d.DialContext(ctx, "tcp", seedNode.Addr())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			res, err := rawHandshake(ctx, c, tc.mse, tc.skey)
			switch {
			case tc.wantErr && err == nil:
				t.Fatalf("stranger got a BitTorrent handshake for %x", res.Hash)
			case !tc.wantErr && err != nil:
				t.Fatalf("member handshake: %v", err)
			case !tc.wantErr && res.Hash != right:
				t.Fatalf("handshake answered %x, want %x", res.Hash, right)
			}
			if err != nil {
				t.Logf("refused: %v", err)
			}
		})
	}
}

// rawHandshake asks for torrent ih on c as a bare peer would: with MSE (ih as its secret,
// plaintext offered) or without, then the BitTorrent handshake.
func rawHandshake(ctx context.Context, c net.Conn, useMSE bool, ih metainfo.Hash) (pp.HandshakeResult, error) {
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	var rw io.ReadWriter = c
	if useMSE {
		var err error
		rw, _, err = mse.InitiateHandshakeContext(ctx, c, ih[:], nil, mse.AllSupportedCrypto)
		if err != nil {
			return pp.HandshakeResult{}, fmt.Errorf("mse handshake: %w", err)
		}
	}
	var id [20]byte
	copy(id[:], "-XX0000-stranger0000")
	res, err := pp.Handshake(ctx, rw, &ih, id, pp.PeerExtensionBits{})
	if err != nil {
		return res, fmt.Errorf("bittorrent handshake: %w", err)
	}
	return res, nil
}
