package pki

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"time"

	"dist/core/atomicfile"
)

// CAKeeper holds one CA for several controllers: a database they share.
type CAKeeper interface {
	// KeepCA stores the CA (PEM) unless one is kept already, in one transaction, and answers
	// the pair kept after the call.
	KeepCA(ctx context.Context, certPEM, keyPEM []byte, at time.Time) (cert, key []byte, err error)
	// StoredCA answers the CA kept; an error that OpenShared's notFound recognises when none is.
	StoredCA(ctx context.Context) (cert, key []byte, err error)
}

// OpenShared opens the CA of dir as Open does, agreeing with the CA that k keeps so that every
// controller of one database signs and trusts with the same CA:
//   - dir has no CA and k keeps one: it is written to dir and used (adopted);
//   - dir has no CA and k keeps none: one is made and offered to k; of controllers starting at
//     once the first to commit wins, and the others adopt its CA instead of their new one;
//   - dir has a CA and k keeps none: it is offered to k;
//   - both have one and they differ: an error naming both fingerprints.
//
// notFound tells k's "none kept" error apart from a failure.
func OpenShared(ctx context.Context, dir string, now func() time.Time, k CAKeeper, notFound func(error) bool) (ca *CA, how string, err error) {
	if now == nil {
		now = time.Now
	}
	_, statErr := os.Stat(filepath.Join(dir, CACertFile))
	hadLocal := statErr == nil
	if !hadLocal && !errors.Is(statErr, os.ErrNotExist) {
		return nil, "", fmt.Errorf("ca certificate: %w", statErr)
	}
	if !hadLocal {
		cert, key, err := k.StoredCA(ctx)
		switch {
		case err == nil:
			if err := adopt(dir, cert, key); err != nil {
				return nil, "", err
			}
			ca, _, err := Open(dir, now)
			return ca, "adopted", err
		case !notFound(err):
			return nil, "", fmt.Errorf("shared ca: %w", err)
		}
	}
	ca, created, err := Open(dir, now)
	if err != nil {
		return nil, "", err
	}
	keyPEM, err := KeyPEM(ca.key)
	if err != nil {
		return nil, "", err
	}
	cert, key, err := k.KeepCA(ctx, ca.CertPEM(), keyPEM, now())
	if err != nil {
		return nil, "", fmt.Errorf("shared ca: %w", err)
	}
	if bytes.Equal(bytes.TrimSpace(cert), bytes.TrimSpace(ca.CertPEM())) {
		if created {
			return ca, "created", nil
		}
		return ca, "shared", nil
	}
	kept, err := ParseCertPEM(cert)
	if err != nil {
		return nil, "", fmt.Errorf("shared ca: kept certificate: %w", err)
	}
	if created {
		// Another controller stored its CA between our look and our offer: ours was never used.
		if err := adopt(dir, cert, key); err != nil {
			return nil, "", err
		}
		ca, _, err := Open(dir, now)
		return ca, "adopted", err
	}
	return nil, "", fmt.Errorf("ca %s in %s differs from ca %s of the shared store: move %s away to take the store's ca (hosts of this ca must join again), or point --store at this ca's own database",
		ca.Fingerprint(), dir, Fingerprint(kept.Raw), dir)
}

// adopt writes a CA taken from the shared store into dir, the key first as create does.
func adopt(dir string, certPEM, keyPEM []byte) error {
	cert, err := ParseCertPEM(certPEM)
	if err != nil {
		return fmt.Errorf("shared ca certificate: %w", err)
	}
	key, err := ParseKeyPEM(keyPEM)
	if err != nil {
		return fmt.Errorf("shared ca key: %w", err)
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		return errors.New("shared ca key does not match its certificate: the store's fleet_ca row is damaged")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("ca directory: %w", err)
	}
	if err := atomicfile.Write(filepath.Join(dir, caKeyFile), keyPEM, 0o600); err != nil {
		return fmt.Errorf("ca key: %w", err)
	}
	if err := atomicfile.Write(filepath.Join(dir, CACertFile), CertPEM(cert.Raw), 0o600); err != nil {
		return fmt.Errorf("ca certificate: %w", err)
	}
	if err := atomicfile.Write(filepath.Join(dir, FingerprintFile), []byte(Fingerprint(cert.Raw)+"\n"), 0o600); err != nil {
		return fmt.Errorf("ca fingerprint: %w", err)
	}
	return nil
}

// Forget drops what the CA holds for name (its newest live certificate) so that a new key may
// take the name at the next join, and answers that certificate's serial ("" when none). A host
// whose certificate is revoked joins again with a new join token.
func (ca *CA) Forget(name string) (string, error) {
	ca.mu.Lock()
	defer ca.mu.Unlock()
	prev, ok := ca.issued[name]
	if !ok {
		return "", nil
	}
	next := make(map[string]issued, len(ca.issued))
	for n, is := range ca.issued {
		if n != name {
			next[n] = is
		}
	}
	b, err := json.MarshalIndent(next, "", "  ")
	if err != nil {
		return "", fmt.Errorf("issued certificates: %w", err)
	}
	if err := atomicfile.Write(filepath.Join(ca.dir, issuedFile), b, 0o600); err != nil {
		return "", fmt.Errorf("issued certificates: %w", err)
	}
	ca.issued = next
	return prev.Serial, nil
}

// HeldSince answers when the certificate that holds name (the newest live one this CA issued
// for it) was issued; false when none holds it.
func (ca *CA) HeldSince(name string) (time.Time, bool) {
	ca.mu.Lock()
	defer ca.mu.Unlock()
	is, ok := ca.issued[name]
	if !ok || !ca.now().Before(is.NotAfter) {
		return time.Time{}, false
	}
	return is.NotAfter.Add(-HostLifetime), true
}

// IssuedAt is when the CA signed cert: to the millisecond from the serial (hostSerial) when it
// agrees with NotBefore, else NotBefore less its backdating, to the second (certificates of
// older versions have random serials).
func IssuedAt(cert *x509.Certificate) time.Time {
	nb := cert.NotBefore.Add(backdate)
	if cert.SerialNumber == nil {
		return nb
	}
	ms := new(big.Int).Rsh(cert.SerialNumber, 64)
	if ms.IsInt64() {
		if at := time.UnixMilli(ms.Int64()); !at.Before(nb) && at.Before(nb.Add(time.Second)) {
			return at
		}
	}
	return nb
}

// SerialOf is a certificate's serial as the CA records it (hex).
func SerialOf(cert *x509.Certificate) string { return cert.SerialNumber.Text(16) }
