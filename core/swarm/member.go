package swarm

import (
	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/mse"
)

// Members only: a BitTorrent connection opens a torrent only for a host that knows its info hash.
//
// Every connection, accepted or dialled, starts with the MSE handshake (BitTorrent protocol
// encryption) and nothing else is accepted: the connecting side must prove it knows the info hash
// (MSE's SKEY) before the first BitTorrent message, so a host without the metainfo cannot reach a
// torrent; a plain BitTorrent handshake is never answered and a wrong info hash is dropped right
// after the key exchange. The info hash stays among members: hosts get metainfo only from the
// controller (mTLS, for their own tasks) or from member-only routes, and the node announces
// nothing (no DHT, PEX, trackers or webseeds: see New). Membership on this port therefore is
// knowing the metainfo, and ends for a host when its torrent is dropped.
//
// After the handshake the payload is plaintext: every piece is checked against its hash anyway,
// and keeping the content secret from the LAN is not what this check is for, while RC4 over
// every byte costs CPU the transfer budget does not have (member_bench_test.go measures both).
// What that leaves open: a host that can read the traffic of members (a mirror port, a spoofed
// ARP entry) sees the info hash in the plaintext BitTorrent handshake and the pieces themselves.

// btCrypto is what a node's BitTorrent connections are wrapped in. Only the zero value is used
// outside tests and benchmarks.
type btCrypto int

const (
	cryptoMembers btCrypto = iota // MSE handshake required both ways, plaintext payload
	cryptoRC4                     // MSE handshake required, RC4 payload: what confidentiality costs
	cryptoNone                    // plain BitTorrent only, no MSE: what the handshake costs
)

// applyMembership sets the connection policy of c on an anacrolix client config.
func applyMembership(tc *torrent.ClientConfig, c btCrypto) {
	// Preferred+RequirePreferred: dial with MSE only (no plaintext retry), and accept only MSE:
	// anacrolix then skips its plaintext probe on accepted connections.
	tc.HeaderObfuscationPolicy = torrent.HeaderObfuscationPolicy{Preferred: true, RequirePreferred: true}
	// Offered when dialling; the accepting side's selector takes plaintext whenever it is offered
	// (anacrolix's default selector), so two nodes always agree on plaintext.
	tc.CryptoProvides = mse.CryptoMethodPlaintext
	tc.CryptoSelector = mse.DefaultCryptoSelector
	switch c {
	case cryptoRC4:
		tc.CryptoProvides = mse.CryptoMethodRC4
	case cryptoNone:
		tc.HeaderObfuscationPolicy = torrent.HeaderObfuscationPolicy{Preferred: false, RequirePreferred: true}
	}
}
