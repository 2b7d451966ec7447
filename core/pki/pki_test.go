package pki

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestOpenCreatesOnceAndReloads(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca, created, err := Open(dir, nil)
	if err != nil || !created {
		t.Fatalf("open: created %v, err %v", created, err)
	}
	for _, f := range []string{CACertFile, caKeyFile, FingerprintFile} {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, want 0600", f, st.Mode().Perm())
		}
	}
	fp, _ := os.ReadFile(filepath.Join(dir, FingerprintFile))
	if strings.TrimSpace(string(fp)) != ca.Fingerprint() || !strings.HasPrefix(ca.Fingerprint(), "sha256:") {
		t.Errorf("fingerprint file %q, CA %q", fp, ca.Fingerprint())
	}
	again, created, err := Open(dir, nil)
	if err != nil || created {
		t.Fatalf("reopen: created %v, err %v", created, err)
	}
	if again.Fingerprint() != ca.Fingerprint() {
		t.Error("reopened CA has another fingerprint")
	}
}

func TestIssueHostNameHeld(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ca, _, err := Open(t.TempDir(), func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	k1, _ := NewKey()
	k2, _ := NewKey()
	der, err := ca.IssueHost("web-1", k1.Public(), false)
	if err != nil {
		t.Fatal(err)
	}
	id, err := SaveIdentity(t.TempDir(), k1, der, ca.Cert().Raw)
	if err != nil {
		t.Fatal(err)
	}
	if id.Name() != "web-1" || id.Leaf().DNSNames[0] != "web-1" {
		t.Errorf("name %q, SANs %v", id.Name(), id.Leaf().DNSNames)
	}
	cases := []struct {
		name    string
		key     any
		replace bool
		at      time.Time
		held    bool
	}{
		{"same key again", k1.Public(), false, now, false},
		{"other key", k2.Public(), false, now, true},
		{"other key, replace", k2.Public(), true, now, false},
		{"first key after replace", k1.Public(), false, now, true},
		{"after expiry", k1.Public(), false, now.Add(HostLifetime + time.Hour), false},
	}
	for _, c := range cases {
		now = c.at
		_, err := ca.IssueHost("web-1", c.key, c.replace)
		if got := errors.Is(err, ErrNameHeld); got != c.held {
			t.Errorf("%s: held %v, want %v (err %v)", c.name, got, c.held, err)
		}
	}
	if _, err := ca.IssueHost("bad/name", k1.Public(), false); err == nil {
		t.Error("a name with a space was signed")
	}
}

func TestNeedsRenewal(t *testing.T) {
	t.Parallel()
	now := time.Now()
	ca, _, err := Open(t.TempDir(), func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	k, _ := NewKey()
	der, _ := ca.IssueHost("h", k.Public(), false)
	id, err := SaveIdentity(t.TempDir(), k, der, ca.Cert().Raw)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		after time.Duration
		want  bool
	}{{0, false}, {HostLifetime / 2, false}, {HostLifetime * 3 / 4, true}, {HostLifetime * 2, true}} {
		if got := id.NeedsRenewal(now.Add(c.after)); got != c.want {
			t.Errorf("after %v: renew %v, want %v", c.after, got, c.want)
		}
	}
}

func TestParseFingerprint(t *testing.T) {
	t.Parallel()
	want := "sha256:" + strings.Repeat("ab", 32)
	for _, in := range []string{want, strings.Repeat("AB", 32), "SHA256:" + strings.TrimSuffix(strings.Repeat("ab:", 32), ":")} {
		if got, err := ParseFingerprint(in); err != nil || got != want {
			t.Errorf("%q: %q, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "sha256:abc", "md5:" + strings.Repeat("ab", 32)} {
		if _, err := ParseFingerprint(in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}

// TestTLS runs a controller-like server and checks who gets through: the trusted client, the
// pinned client, a host presenting its certificate; and who does not: a client trusting another
// CA, a client pinning another fingerprint, a host certificate posing as the controller.
func TestTLS(t *testing.T) {
	t.Parallel()
	ca, _, err := Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	other, _, err := Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	host := identity(t, ca, "web-1")
	stranger := identity(t, other, "web-1")

	srvURL := serveTLS(t, ca.ServerConfig(), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := "-"
		if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 {
			name = r.TLS.VerifiedChains[0][0].Subject.CommonName
		}
		_, _ = w.Write([]byte(name))
	}))
	// A host certificate serving: the controller's clients must refuse it.
	fakeURL := strings.Replace(serveTLS(t, identity(t, ca, "localhost").ServerConfig(), http.NotFoundHandler()), "127.0.0.1", "localhost", 1)

	get := func(url string, c *tls.Config) (string, error) {
		cl := &http.Client{Transport: &http.Transport{TLSClientConfig: c}, Timeout: 10 * time.Second}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := cl.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b := make([]byte, 64)
		n, _ := resp.Body.Read(b)
		return string(b[:n]), nil
	}
	cases := []struct {
		name string
		url  string
		cfg  *tls.Config
		want string // "" means refused
	}{
		{"ca file", srvURL, ControllerConfig(ca.Pool(), ""), "-"},
		{"pinned", srvURL, ControllerConfig(nil, ca.Fingerprint()), "-"},
		{"host with cert", srvURL, host.ControllerConfig(), "web-1"},
		{"host cert of another ca is not sent", srvURL, withRoots(stranger.PeerConfig(), ca), "-"},
		{"other ca", srvURL, ControllerConfig(other.Pool(), ""), ""},
		{"other pin", srvURL, ControllerConfig(nil, other.Fingerprint()), ""},
		{"host cert posing as controller", fakeURL, ControllerConfig(ca.Pool(), ""), ""},
		{"pinned, host cert posing", fakeURL, ControllerConfig(nil, ca.Fingerprint()), ""},
		{"peer accepts fleet server", srvURL, host.PeerConfig(), "web-1"},
		{"peer refuses other fleet", srvURL, stranger.PeerConfig(), ""},
	}
	for _, c := range cases {
		got, err := get(c.url, c.cfg)
		if c.want == "" {
			if err == nil {
				t.Errorf("%s: answered %q, want refused", c.name, got)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%s: %q, %v; want %q", c.name, got, err, c.want)
		}
	}
	// A client certificate of another CA is refused by the server itself.
	c := stranger.ControllerConfig()
	c.RootCAs = ca.Pool()
	c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		return stranger.cert.Load(), nil
	}
	if got, err := get(srvURL, c); err == nil {
		t.Errorf("client certificate of another CA: answered %q", got)
	}
	var ue *UntrustedError
	_, err = get(fakeURL, ControllerConfig(ca.Pool(), ""))
	if !errors.As(err, &ue) {
		t.Errorf("posing host: %v, want an UntrustedError", err)
	}
}

func withRoots(c *tls.Config, ca *CA) *tls.Config {
	c.InsecureSkipVerify = false
	c.VerifyConnection = nil
	c.RootCAs = ca.Pool()
	return c
}

func identity(t *testing.T, ca *CA, name string) *Identity {
	t.Helper()
	k, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	csrPEM, err := CSR(k, name)
	if err != nil {
		t.Fatal(err)
	}
	csr, err := ParseCSR(csrPEM)
	if err != nil {
		t.Fatal(err)
	}
	der, err := ca.IssueHost(name, csr.PublicKey, false)
	if err != nil {
		t.Fatal(err)
	}
	id, err := SaveIdentity(t.TempDir(), k, der, ca.Cert().Raw)
	if err != nil {
		t.Fatal(err)
	}
	again, err := LoadIdentity(id.dir)
	if err != nil || again.Name() != name {
		t.Fatalf("reload identity: %v", err)
	}
	return again
}

// serveTLS serves h over TLS with cfg on loopback until the test ends, and answers its URL.
func serveTLS(t *testing.T, cfg *tls.Config, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, TLSConfig: cfg, ErrorLog: log.New(io.Discard, "", 0)}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	t.Cleanup(func() { _ = srv.Close() })
	return "https://" + ln.Addr().String()
}
