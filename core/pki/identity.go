package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"time"

	"dist/core/atomicfile"
)

// Files of a host's identity in its directory (a daemon's <data>/tls), each 0600.
const (
	HostKeyFile  = "host.key"
	HostCertFile = "host.crt"
	// CAFile is the CA the host trusts, as its join answered it.
	CAFile = "ca.crt"
)

// Identity is a host's key and certificate with the CA that issued it. The certificate can be
// replaced while connections use it (Replace): the TLS configurations read it at each handshake.
type Identity struct {
	dir   string
	caDER []byte
	pool  *x509.CertPool
	cert  atomic.Pointer[tls.Certificate]
	// sessions lets connections to a server seen before resume their TLS session: a host opens
	// many connections to its peers and a full handshake costs more than most requests.
	sessions tls.ClientSessionCache
}

// LoadIdentity reads the identity kept in dir; an error wrapping os.ErrNotExist means the host
// has not joined yet.
func LoadIdentity(dir string) (*Identity, error) {
	read := func(name string) ([]byte, error) {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("host identity: %w", err)
		}
		return b, nil
	}
	caPEM, err := read(CAFile)
	if err != nil {
		return nil, err
	}
	certPEM, err := read(HostCertFile)
	if err != nil {
		return nil, err
	}
	keyPEM, err := read(HostKeyFile)
	if err != nil {
		return nil, err
	}
	ca, err := ParseCertPEM(caPEM)
	if err != nil {
		return nil, fmt.Errorf("host identity %s: %w", filepath.Join(dir, CAFile), err)
	}
	key, err := ParseKeyPEM(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("host identity %s: %w", filepath.Join(dir, HostKeyFile), err)
	}
	leaf, err := ParseCertPEM(certPEM)
	if err != nil {
		return nil, fmt.Errorf("host identity %s: %w", filepath.Join(dir, HostCertFile), err)
	}
	id := newIdentity(dir, ca.Raw)
	if err := id.set(key, leaf); err != nil {
		return nil, err
	}
	return id, nil
}

// SaveIdentity keeps key, the certificate signed for it and the CA in dir, and answers them as an
// Identity.
func SaveIdentity(dir string, key *ecdsa.PrivateKey, certDER, caDER []byte) (*Identity, error) {
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, fmt.Errorf("ca certificate: %w", err)
	}
	id := newIdentity(dir, ca.Raw)
	if err := atomicfile.Write(filepath.Join(dir, CAFile), CertPEM(caDER), 0o600); err != nil {
		return nil, fmt.Errorf("host identity: %w", err)
	}
	if err := id.Replace(key, certDER); err != nil {
		return nil, err
	}
	return id, nil
}

func newIdentity(dir string, caDER []byte) *Identity {
	ca, _ := x509.ParseCertificate(caDER)
	p := x509.NewCertPool()
	p.AddCert(ca)
	return &Identity{dir: dir, caDER: caDER, pool: p, sessions: tls.NewLRUClientSessionCache(256)}
}

// Replace keeps a new key and certificate (a renewal) and serves them from the next handshake.
func (id *Identity) Replace(key *ecdsa.PrivateKey, certDER []byte) error {
	leaf, err := x509.ParseCertificate(certDER)
	if err != nil {
		return fmt.Errorf("host certificate: %w", err)
	}
	if err := id.set(key, leaf); err != nil {
		return err
	}
	keyPEM, err := KeyPEM(key)
	if err != nil {
		return err
	}
	// The key first, then the certificate: a crash between them leaves a pair LoadIdentity
	// refuses (key and certificate differ), and the host joins again instead of running broken.
	if err := atomicfile.Write(filepath.Join(id.dir, HostKeyFile), keyPEM, 0o600); err != nil {
		return fmt.Errorf("host identity: %w", err)
	}
	if err := atomicfile.Write(filepath.Join(id.dir, HostCertFile), CertPEM(certDER), 0o600); err != nil {
		return fmt.Errorf("host identity: %w", err)
	}
	return nil
}

func (id *Identity) set(key *ecdsa.PrivateKey, leaf *x509.Certificate) error {
	if !key.PublicKey.Equal(leaf.PublicKey) {
		return fmt.Errorf("host identity %s: key and certificate do not match", id.dir)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: id.pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		CurrentTime: leaf.NotBefore.Add(time.Minute)}); err != nil {
		return fmt.Errorf("host identity %s: certificate not from its ca: %w", id.dir, err)
	}
	id.cert.Store(&tls.Certificate{Certificate: [][]byte{leaf.Raw}, PrivateKey: key, Leaf: leaf})
	return nil
}

// Name is the host name inside the certificate.
func (id *Identity) Name() string { return id.Leaf().Subject.CommonName }

// Leaf is the current host certificate.
func (id *Identity) Leaf() *x509.Certificate { return id.cert.Load().Leaf }

// Pool holds the CA alone.
func (id *Identity) Pool() *x509.CertPool { return id.pool }

// CAFile is the path of the CA certificate the host trusts.
func (id *Identity) CAFile() string { return filepath.Join(id.dir, CAFile) }

// NeedsRenewal reports whether the host certificate has less than a third of its life left.
func (id *Identity) NeedsRenewal(now time.Time) bool { return NeedsRenewal(id.Leaf(), now) }

// ServerConfig is a host's TLS as a server: its certificate, TLS 1.3, and a client certificate
// verified against the CA when one is given.
func (id *Identity) ServerConfig() *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS13,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return id.cert.Load(), nil },
		ClientAuth:     tls.VerifyClientCertIfGiven,
		ClientCAs:      id.pool,
	}
}

// clientCert presents the host certificate to servers that ask for one of this CA only: an
// origin on the internet asking for client certificates learns nothing of the fleet.
func (id *Identity) clientCert(cri *tls.CertificateRequestInfo) (*tls.Certificate, error) {
	if c := id.cert.Load(); c != nil && cri.SupportsCertificate(c) == nil {
		return c, nil
	}
	return &tls.Certificate{}, nil
}

// ControllerConfig is a host's TLS to its controller: the server must hold the controller's
// certificate from this CA, for the address dialled; the host presents its certificate.
func (id *Identity) ControllerConfig() *tls.Config {
	c := ControllerConfig(id.pool, "")
	c.GetClientCertificate = id.clientCert
	c.ClientSessionCache = id.sessions
	return c
}

// PeerConfig is a host's TLS to other hosts and to origins. A server with a certificate of this
// CA is accepted whatever its name — a peer is reached by address and every byte it sends is
// checked against the metainfo's hashes; any other server must have a certificate the system
// trusts for its name (an https origin).
func (id *Identity) PeerConfig() *tls.Config {
	return &tls.Config{
		MinVersion:           tls.VersionTLS12, // origins may be older than the fleet
		InsecureSkipVerify:   true,             // VerifyConnection below verifies every chain
		VerifyConnection:     verifyPeer(id.pool),
		GetClientCertificate: id.clientCert,
		ClientSessionCache:   id.sessions,
	}
}

func verifyPeer(fleet *x509.CertPool) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("tls: server sent no certificate")
		}
		leaf := cs.PeerCertificates[0]
		inter := x509.NewCertPool()
		for _, c := range cs.PeerCertificates[1:] {
			inter.AddCert(c)
		}
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: fleet, Intermediates: inter,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err == nil {
			return nil
		}
		sys, err := x509.SystemCertPool()
		if err != nil {
			return fmt.Errorf("tls: system roots: %w", err)
		}
		_, err = leaf.Verify(x509.VerifyOptions{Roots: sys, Intermediates: inter, DNSName: cs.ServerName})
		return err
	}
}

// ControllerConfig is TLS to a dist controller trusted by the CA in pool, or, pool nil, by the CA
// whose fingerprint is pinned: the CA the server sends in its chain must have that fingerprint.
// Either way the certificate must be the controller's (OUController) and valid for the address.
// With neither, the system's roots are used (a controller behind a proxy with a public
// certificate).
func ControllerConfig(pool *x509.CertPool, fingerprint string) *tls.Config {
	c := &tls.Config{MinVersion: tls.VersionTLS13}
	switch {
	case pool != nil:
		c.RootCAs = pool
		c.VerifyConnection = func(cs tls.ConnectionState) error { return controllerLeaf(cs.PeerCertificates) }
	case fingerprint != "":
		c.InsecureSkipVerify = true // VerifyConnection verifies the chain against the pinned CA
		c.VerifyConnection = func(cs tls.ConnectionState) error { return verifyPinned(cs, fingerprint) }
	}
	return c
}

func controllerLeaf(chain []*x509.Certificate) error {
	if len(chain) == 0 || !slices.Contains(chain[0].Subject.OrganizationalUnit, OUController) {
		return &UntrustedError{Reason: "the server's certificate is not a dist controller's"}
	}
	return nil
}

func verifyPinned(cs tls.ConnectionState, fingerprint string) error {
	if len(cs.PeerCertificates) == 0 {
		return &UntrustedError{Reason: "the server sent no certificate"}
	}
	for _, ca := range cs.PeerCertificates[1:] {
		if Fingerprint(ca.Raw) != fingerprint || !ca.IsCA {
			continue
		}
		p := x509.NewCertPool()
		p.AddCert(ca)
		if _, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: p, DNSName: cs.ServerName,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
			return &UntrustedError{Reason: "the certificate is not valid for this address: " + err.Error()}
		}
		return controllerLeaf(cs.PeerCertificates)
	}
	return &UntrustedError{Reason: "its ca does not have the pinned fingerprint " + fingerprint}
}

// PinnedCA answers the CA certificate, of the chain a server sent, that has fingerprint.
func PinnedCA(chain []*x509.Certificate, fingerprint string) *x509.Certificate {
	for _, c := range chain {
		if c.IsCA && Fingerprint(c.Raw) == fingerprint {
			return c
		}
	}
	return nil
}

// UntrustedError is a server certificate refused by ControllerConfig's checks.
type UntrustedError struct{ Reason string }

func (e *UntrustedError) Error() string { return "controller certificate not trusted: " + e.Reason }

// NewKey makes a host key (ECDSA P-256).
func NewKey() (*ecdsa.PrivateKey, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("host key: %w", err)
	}
	return k, nil
}

// CSR is a PEM certificate request for name over key.
func CSR(key *ecdsa.PrivateKey, name string) ([]byte, error) {
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: name}}, key)
	if err != nil {
		return nil, fmt.Errorf("certificate request: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), nil
}

// ParseCSR decodes a PEM certificate request and checks its signature (the sender holds the key).
func ParseCSR(b []byte) (*x509.CertificateRequest, error) {
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE REQUEST" {
		return nil, errors.New("certificate request: no PEM CERTIFICATE REQUEST")
	}
	csr, err := x509.ParseCertificateRequest(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("certificate request: %w", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("certificate request: %w", err)
	}
	if _, ok := csr.PublicKey.(*ecdsa.PublicKey); !ok {
		return nil, errors.New("certificate request: the key must be ECDSA")
	}
	return csr, nil
}
