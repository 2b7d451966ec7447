// Package pki is dist's own certificate authority and the host identities it issues.
//
// The controller creates its CA on first start in <data>/pki (ca.crt, ca.key, ca.fingerprint,
// issued.json; every file 0600, written atomically). The CA key is ECDSA P-256, the CA lives 10
// years. Its fingerprint, the SHA-256 of the CA certificate's DER written "sha256:<hex>", is what
// an operator pins (--ca-fingerprint) when it does not copy ca.crt (--ca-file).
//
// Two kinds of leaf certificates come from it:
//
//   - a host certificate per host (HostLifetime, 30 days): the host name is the Subject
//     CommonName and a DNS name, OrganizationalUnit OUHost, usable to serve and as a client. A host
//     renews it through POST /v1/join, authenticated by the certificate itself, once less than a
//     third of its lifetime is left (NeedsRenewal); a lost host joins again with a join token.
//   - the controller's serving certificate (OUController, server use only), made in memory at
//     start for the controller's addresses plus localhost and 127.0.0.1, and made again on the fly
//     once a third of its lifetime is left. Clients of the controller require OUController on top
//     of the CA chain and the address: a host certificate, whatever its name, can never pose as
//     the controller.
//
// A name is held by the newest live certificate issued for it (issued.json): another key asking
// for the same name is refused until that certificate expires, unless the caller may replace it
// (an admin, or the holder renewing). The CA itself revokes nothing: the controller keeps the
// revoked certificates (a serial, or every certificate of a host issued before a moment, told by
// IssuedAt) and refuses them; Forget lets a revoked host's name be taken by its next join.
//
// Several controllers sharing one database sign with one CA: OpenShared takes the CA from the
// database, or stores this controller's there, the first writer winning (shared.go).
package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"dist/core/atomicfile"
)

// Lifetimes of what the CA issues.
const (
	CALifetime      = 10 * 365 * 24 * time.Hour
	HostLifetime    = 30 * 24 * time.Hour
	ServingLifetime = 30 * 24 * time.Hour
	// backdate covers clocks of hosts a little behind the controller's.
	backdate = 5 * time.Minute
)

// Organizational units that tell a host certificate from the controller's.
const (
	OUHost       = "dist host"
	OUController = "dist controller"
)

// Files of the CA in its directory.
const (
	CACertFile      = "ca.crt"
	caKeyFile       = "ca.key"
	FingerprintFile = "ca.fingerprint"
	issuedFile      = "issued.json"
)

// ErrNameHeld is answered when another key holds a live certificate for the name asked.
var ErrNameHeld = errors.New("name held by another host's live certificate")

// CA is the controller's certificate authority.
type CA struct {
	dir  string
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	now  func() time.Time

	mu      sync.Mutex
	issued  map[string]issued
	serving *tls.Certificate
	hosts   []string // SANs of the serving certificate
}

// issued is the newest certificate given for one name.
type issued struct {
	Key      string    `json:"key_sha256"` // SHA-256 of the public key's DER
	Serial   string    `json:"serial"`
	NotAfter time.Time `json:"not_after"`
}

// Open loads the CA in dir, or creates it there when dir holds none; created says which. now nil
// means time.Now.
func Open(dir string, now func() time.Time) (ca *CA, created bool, err error) {
	if now == nil {
		now = time.Now
	}
	ca = &CA{dir: dir, now: now, issued: map[string]issued{}}
	certPEM, err := os.ReadFile(filepath.Join(dir, CACertFile))
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := ca.create(); err != nil {
			return nil, false, err
		}
		return ca, true, nil
	case err != nil:
		return nil, false, fmt.Errorf("ca certificate: %w", err)
	}
	if ca.cert, err = ParseCertPEM(certPEM); err != nil {
		return nil, false, fmt.Errorf("ca certificate %s: %w", filepath.Join(dir, CACertFile), err)
	}
	keyPEM, err := os.ReadFile(filepath.Join(dir, caKeyFile))
	if err != nil {
		return nil, false, fmt.Errorf("ca key: %w", err)
	}
	if ca.key, err = ParseKeyPEM(keyPEM); err != nil {
		return nil, false, fmt.Errorf("ca key %s: %w", filepath.Join(dir, caKeyFile), err)
	}
	if !ca.key.PublicKey.Equal(ca.cert.PublicKey) {
		return nil, false, fmt.Errorf("ca key %s does not match %s", filepath.Join(dir, caKeyFile), CACertFile)
	}
	if b, err := os.ReadFile(filepath.Join(dir, issuedFile)); err == nil {
		if err := json.Unmarshal(b, &ca.issued); err != nil {
			return nil, false, fmt.Errorf("issued certificates %s: %w", filepath.Join(dir, issuedFile), err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, false, fmt.Errorf("issued certificates: %w", err)
	}
	return ca, false, nil
}

func (ca *CA) create() error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("ca key: %w", err)
	}
	now := ca.now()
	serial := randSerial()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		// A name of its own: servers name the CAs they accept by subject, and a host must not
		// offer its certificate to another fleet's servers.
		Subject:               pkix.Name{CommonName: "dist CA " + fmt.Sprintf("%032x", serial)[:12], Organization: []string{"dist"}},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(CALifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return fmt.Errorf("ca certificate: %w", err)
	}
	if ca.cert, err = x509.ParseCertificate(der); err != nil {
		return fmt.Errorf("ca certificate: %w", err)
	}
	ca.key = key
	keyPEM, err := KeyPEM(key)
	if err != nil {
		return err
	}
	// The key first: a directory with a certificate but no key is a CA that cannot be opened.
	if err := atomicfile.Write(filepath.Join(ca.dir, caKeyFile), keyPEM, 0o600); err != nil {
		return fmt.Errorf("ca key: %w", err)
	}
	if err := atomicfile.Write(filepath.Join(ca.dir, CACertFile), CertPEM(der), 0o600); err != nil {
		return fmt.Errorf("ca certificate: %w", err)
	}
	if err := atomicfile.Write(filepath.Join(ca.dir, FingerprintFile), []byte(Fingerprint(der)+"\n"), 0o600); err != nil {
		return fmt.Errorf("ca fingerprint: %w", err)
	}
	return nil
}

// Now is the CA's clock, by which it dates what it issues.
func (ca *CA) Now() time.Time { return ca.now() }

// Cert is the CA certificate.
func (ca *CA) Cert() *x509.Certificate { return ca.cert }

// CertPEM is the CA certificate, PEM encoded.
func (ca *CA) CertPEM() []byte { return CertPEM(ca.cert.Raw) }

// CertFile is the path of the CA certificate.
func (ca *CA) CertFile() string { return filepath.Join(ca.dir, CACertFile) }

// Fingerprint is "sha256:<hex>" of the CA certificate.
func (ca *CA) Fingerprint() string { return Fingerprint(ca.cert.Raw) }

// Pool holds the CA certificate alone.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// IssueHost signs a host certificate for name over pub. A live certificate of name over another
// key is replaced only when replace is set; otherwise the answer is ErrNameHeld.
func (ca *CA) IssueHost(name string, pub crypto.PublicKey, replace bool) ([]byte, error) {
	if err := ValidName(name); err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("host public key: %w", err)
	}
	sum := sha256.Sum256(keyDER)
	keyID := hex.EncodeToString(sum[:])
	now := ca.now()
	ca.mu.Lock()
	defer ca.mu.Unlock()
	if prev, ok := ca.issued[name]; ok && !replace && prev.Key != keyID && now.Before(prev.NotAfter) {
		return nil, fmt.Errorf("host %q: %w (until %s)", name, ErrNameHeld, prev.NotAfter.UTC().Format(time.RFC3339))
	}
	serial := hostSerial(now)
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: name, Organization: []string{"dist"}, OrganizationalUnit: []string{OUHost}},
		NotBefore:    now.Add(-backdate),
		NotAfter:     now.Add(HostLifetime),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
	}
	if dnsName(name) {
		tmpl.DNSNames = []string{name}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, pub, ca.key)
	if err != nil {
		return nil, fmt.Errorf("host certificate %q: %w", name, err)
	}
	next := make(map[string]issued, len(ca.issued)+1)
	for n, is := range ca.issued {
		if now.Before(is.NotAfter) { // expired entries hold nothing
			next[n] = is
		}
	}
	next[name] = issued{Key: keyID, Serial: serial.Text(16), NotAfter: tmpl.NotAfter}
	b, err := json.MarshalIndent(next, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("issued certificates: %w", err)
	}
	// Written before the certificate leaves: a restarted controller still knows who holds name.
	if err := atomicfile.Write(filepath.Join(ca.dir, issuedFile), b, 0o600); err != nil {
		return nil, fmt.Errorf("issued certificates: %w", err)
	}
	ca.issued = next
	return der, nil
}

// SetServingHosts names the addresses (IPs or DNS names) the serving certificate is made for,
// beside localhost and 127.0.0.1; a change makes a new certificate at the next handshake.
func (ca *CA) SetServingHosts(hosts []string) {
	list := servingList(hosts)
	ca.mu.Lock()
	ca.hosts, ca.serving = list, nil
	ca.mu.Unlock()
}

func servingList(hosts []string) []string {
	set := map[string]bool{"localhost": true, "127.0.0.1": true, "::1": true}
	for _, h := range hosts {
		if h = strings.Trim(strings.TrimSpace(h), "[]"); h != "" {
			set[h] = true
		}
	}
	list := make([]string, 0, len(set))
	for h := range set {
		list = append(list, h)
	}
	sort.Strings(list)
	return list
}

// ServingCertificate answers the controller's serving certificate with the CA in its chain (so a
// client pinning the fingerprint finds it), made anew when missing or a third of it is left.
func (ca *CA) ServingCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	ca.mu.Lock()
	defer ca.mu.Unlock()
	now := ca.now()
	if ca.serving != nil && !NeedsRenewal(ca.serving.Leaf, now) {
		return ca.serving, nil
	}
	if ca.hosts == nil {
		ca.hosts = servingList(nil)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("serving key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: randSerial(),
		Subject:      pkix.Name{CommonName: "dist controller", Organization: []string{"dist"}, OrganizationalUnit: []string{OUController}},
		NotBefore:    now.Add(-backdate),
		NotAfter:     now.Add(ServingLifetime),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range ca.hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		return nil, fmt.Errorf("serving certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("serving certificate: %w", err)
	}
	ca.serving = &tls.Certificate{Certificate: [][]byte{der, ca.cert.Raw}, PrivateKey: key, Leaf: leaf}
	return ca.serving, nil
}

// ServerConfig is the controller's TLS: TLS 1.3, its serving certificate, client certificates
// asked for and verified against the CA when one is given (operators and joining hosts have none).
func (ca *CA) ServerConfig() *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS13,
		GetCertificate: ca.ServingCertificate,
		ClientAuth:     tls.VerifyClientCertIfGiven,
		ClientCAs:      ca.Pool(),
	}
}

// NeedsRenewal reports whether less than a third of cert's lifetime is left at now.
func NeedsRenewal(cert *x509.Certificate, now time.Time) bool {
	if cert == nil {
		return true
	}
	life := cert.NotAfter.Sub(cert.NotBefore)
	return cert.NotAfter.Sub(now) < life/3
}

// ValidName checks a host name for a certificate: 1 to 253 printable ASCII characters, without
// a space, '/' or '='.
func ValidName(name string) error {
	if name == "" || len(name) > 253 {
		return fmt.Errorf("host name %q: give 1 to 253 characters", name)
	}
	for _, r := range name {
		if r <= ' ' || r > '~' || r == '/' || r == '=' {
			return fmt.Errorf("host name %q: use printable ASCII without spaces, '/' or '='", name)
		}
	}
	return nil
}

// dnsName reports whether name can also be a certificate's DNS name.
func dnsName(name string) bool {
	for i, r := range name {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || (i > 0 && (r == '.' || r == '-' || r == '_'))
		if !ok {
			return false
		}
	}
	return true
}

// Fingerprint is "sha256:<hex>" of a certificate's DER.
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// ParseFingerprint accepts "sha256:<hex>", or the hex alone, with or without colons between
// bytes, in either case; it answers the canonical form.
func ParseFingerprint(s string) (string, error) {
	h := strings.ToLower(strings.TrimSpace(s))
	h = strings.TrimPrefix(h, "sha256:")
	h = strings.ReplaceAll(h, ":", "")
	b, err := hex.DecodeString(h)
	if err != nil || len(b) != sha256.Size {
		return "", fmt.Errorf("ca fingerprint %q: give sha256:<64 hex digits> as the controller printed it", s)
	}
	return "sha256:" + h, nil
}

// CertPEM encodes a certificate's DER.
func CertPEM(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// ParseCertPEM answers the first certificate of PEM data.
func ParseCertPEM(b []byte) (*x509.Certificate, error) {
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return nil, errors.New("no PEM certificate")
		}
		if blk.Type == "CERTIFICATE" {
			return x509.ParseCertificate(blk.Bytes)
		}
	}
}

// KeyPEM encodes an ECDSA private key.
func KeyPEM(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// ParseKeyPEM decodes an ECDSA private key (PKCS #8 or SEC 1).
func ParseKeyPEM(b []byte) (*ecdsa.PrivateKey, error) {
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, errors.New("no PEM key")
	}
	if k, err := x509.ParseECPrivateKey(blk.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse key: %w", err)
	}
	ek, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, errors.New("key is not ECDSA")
	}
	return ek, nil
}

// PoolFromPEM answers a pool of the certificates in PEM data.
func PoolFromPEM(b []byte) (*x509.CertPool, error) {
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(b) {
		return nil, errors.New("no PEM certificate")
	}
	return p, nil
}

// hostSerial is a host certificate's serial: the issue time in unix milliseconds above 64 random
// bits. A revocation of every certificate of a host issued before a moment (IssuedAt) then tells
// the certificates of a moment ago from one issued just after, which NotBefore, in whole
// seconds, cannot.
func hostSerial(now time.Time) *big.Int {
	r, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return r.Or(r, new(big.Int).Lsh(big.NewInt(max(now.UnixMilli(), 1)), 64))
}

func randSerial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return n.Add(n, big.NewInt(1))
}
