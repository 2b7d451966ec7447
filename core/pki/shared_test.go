package pki

import (
	"context"
	"crypto/x509"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// memKeeper is a CAKeeper in memory: the first KeepCA wins.
type memKeeper struct {
	mu        sync.Mutex
	cert, key []byte
	// before, when set, runs inside KeepCA before the offer: another controller's offer.
	before func(k *memKeeper)
}

var errNone = errors.New("none kept")

func (k *memKeeper) KeepCA(_ context.Context, cert, key []byte, _ time.Time) ([]byte, []byte, error) {
	if k.before != nil {
		f := k.before
		k.before = nil
		f(k)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.cert == nil {
		k.cert, k.key = cert, key
	}
	return k.cert, k.key, nil
}

func (k *memKeeper) StoredCA(context.Context) ([]byte, []byte, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.cert == nil {
		return nil, nil, errNone
	}
	return k.cert, k.key, nil
}

func isNone(err error) bool { return errors.Is(err, errNone) }

// TestOpenShared: the first controller stores its CA, the next takes it; a controller that made
// a CA while another stored one takes the stored one; a data dir with another CA is refused
// naming both fingerprints.
func TestOpenShared(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	k := &memKeeper{}
	a, how, err := OpenShared(ctx, filepath.Join(t.TempDir(), "pki"), nil, k, isNone)
	if err != nil || how != "created" {
		t.Fatalf("first: %q, %v", how, err)
	}
	dirB := filepath.Join(t.TempDir(), "pki")
	b, how, err := OpenShared(ctx, dirB, nil, k, isNone)
	if err != nil || how != "adopted" || b.Fingerprint() != a.Fingerprint() {
		t.Fatalf("second: %q, %v", how, err)
	}
	if again, _, err := Open(dirB, nil); err != nil || again.Fingerprint() != a.Fingerprint() {
		t.Fatalf("adopted ca reopened from its dir: %v", err)
	}
	if _, how, err := OpenShared(ctx, dirB, nil, k, isNone); err != nil || how != "shared" {
		t.Fatalf("second restarted: %q, %v", how, err)
	}

	// A race: between this controller's look and its offer, another stores its CA.
	race := &memKeeper{}
	var winner *CA
	race.before = func(k *memKeeper) {
		w, _, err := Open(filepath.Join(t.TempDir(), "pki"), nil)
		if err != nil {
			t.Fatal(err)
		}
		key, _ := KeyPEM(w.key)
		k.cert, k.key, winner = w.CertPEM(), key, w
	}
	lost, how, err := OpenShared(ctx, filepath.Join(t.TempDir(), "pki"), nil, race, isNone)
	if err != nil || how != "adopted" || lost.Fingerprint() != winner.Fingerprint() {
		t.Fatalf("controller that lost the race: %q, %v", how, err)
	}

	dirC := filepath.Join(t.TempDir(), "pki")
	own, _, err := Open(dirC, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = OpenShared(ctx, dirC, nil, k, isNone)
	if err == nil || !strings.Contains(err.Error(), own.Fingerprint()) || !strings.Contains(err.Error(), a.Fingerprint()) || strings.Contains(err.Error(), "\n") {
		t.Fatalf("another ca in the data dir: %v, want one line naming both fingerprints", err)
	}
}

// TestIssuedAtAndForget: a host certificate tells its issue time to the millisecond; Forget frees
// the name for another key and answers the serial it held.
func TestIssuedAtAndForget(t *testing.T) {
	t.Parallel()
	at := time.UnixMilli(1_700_000_000_123)
	ca, _, err := Open(t.TempDir(), func() time.Time { return at })
	if err != nil {
		t.Fatal(err)
	}
	k1, _ := NewKey()
	der, err := ca.IssueHost("c1", k1.Public(), false)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	if got := IssuedAt(cert); !got.Equal(at) {
		t.Errorf("issued at %v, want %v", got, at)
	}
	// A certificate of an older version (a random serial) falls back to NotBefore, to the second.
	old := *cert
	old.SerialNumber = randSerial()
	if got := IssuedAt(&old); !got.Equal(at.Truncate(time.Second)) {
		t.Errorf("random serial: issued at %v, want %v", got, at.Truncate(time.Second))
	}
	if held, ok := ca.HeldSince("c1"); !ok || !held.Equal(at) {
		t.Errorf("held since %v %v, want %v", held, ok, at)
	}
	k2, _ := NewKey()
	if _, err := ca.IssueHost("c1", k2.Public(), false); !errors.Is(err, ErrNameHeld) {
		t.Fatalf("another key for c1: %v, want ErrNameHeld", err)
	}
	serial, err := ca.Forget("c1")
	if err != nil || serial != SerialOf(cert) {
		t.Fatalf("forget c1: %q, %v; want %s", serial, err, SerialOf(cert))
	}
	if _, err := ca.IssueHost("c1", k2.Public(), false); err != nil {
		t.Fatalf("another key for c1 after Forget: %v", err)
	}
}
