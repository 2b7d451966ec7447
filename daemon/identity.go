package daemon

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"dist/core/api"
	"dist/core/pki"
	"dist/core/store"
	"dist/daemon/controller"
)

// TLS of a daemon (TLS is the default; InsecurePlainHTTP turns it off):
//
//   - a controller host opens or creates its CA in <data>/pki and serves the controller's
//     certificate; its own agent gets a host certificate from that CA directly;
//   - any other host keeps its key, certificate and CA in <data>/tls; without them it joins at
//     start (POST /v1/join with JoinToken, trusting the controller by CAFile or CAFingerprint);
//   - every host serves its HTTP with its certificate and asks peers for theirs (verified against
//     the CA when given), and presents its certificate to the controller and to peers;
//   - the certificate is renewed once a third of its life is left (renewLoop).

// identityDir is where a host keeps its key, certificate and CA.
func (d *Daemon) identityDir() string { return filepath.Join(d.cfg.Data, "tls") }

// setupTLS settles the daemon's CA (controller) and identity before anything serves or calls.
func (d *Daemon) setupTLS(ctx context.Context, ln net.Listener) error {
	if d.cfg.InsecurePlainHTTP {
		d.log.Warn("INSECURE: plain HTTP, no TLS: tokens, tasks and content cross the network in clear and any holder of the host token can act as any host (--insecure-plain-http)")
		return nil
	}
	if d.cfg.has(api.RoleController) {
		ca, how, err := d.openCA(ctx)
		if err != nil {
			return fmt.Errorf("controller ca: %w", err)
		}
		d.ca = ca
		if how != "" {
			d.log.Info("controller ca "+how, "file", ca.CertFile())
		}
		d.log.Info("controller ca: pin it with --ca-fingerprint or copy the file for --ca-file", "fingerprint", ca.Fingerprint(), "file", ca.CertFile())
		ca.SetServingHosts(servingHosts(ln.Addr(), d.cfg.Advertise))
		return d.localIdentity()
	}
	id, err := pki.LoadIdentity(d.identityDir())
	switch {
	case errors.Is(err, os.ErrNotExist):
		d.log.Info("no host certificate yet: joining the controller", "controller", d.cfg.Controller)
		return d.join(ctx)
	case err != nil && d.cfg.JoinToken != "":
		d.log.Warn("host certificate unusable: joining again", "err", err)
		return d.join(ctx)
	case err != nil:
		return fmt.Errorf("%w: remove %s and give a join token to join again", err, d.identityDir())
	}
	if name := id.Name(); name != d.cfg.Name {
		if d.cfg.JoinToken == "" {
			return fmt.Errorf("host certificate in %s is for %q, not %q: keep --name %s, or give a join token to join under the new name", d.identityDir(), name, d.cfg.Name, name)
		}
		d.log.Warn("host certificate names another host: joining again", "cert", name, "name", d.cfg.Name)
		return d.join(ctx)
	}
	if time.Now().After(id.Leaf().NotAfter) {
		if d.cfg.JoinToken == "" {
			return fmt.Errorf("host certificate in %s expired on %s: give a join token to join again", d.identityDir(), id.Leaf().NotAfter.Format(time.RFC3339))
		}
		return d.join(ctx)
	}
	d.id = id
	return nil
}

// openCA opens the controller's CA in <data>/pki, making it on first start. Controllers that
// share a PostgreSQL store share its CA too (controller.OpenSharedCA): the first to start stores
// its CA there, the others take it. how is "" for a CA opened as it was, else what happened.
func (d *Daemon) openCA(ctx context.Context) (*pki.CA, string, error) {
	dir := filepath.Join(d.cfg.Data, "pki")
	if !store.IsPostgres(d.cfg.Store) {
		ca, created, err := pki.Open(dir, nil)
		if created {
			return ca, "created", err
		}
		return ca, "", err
	}
	st, err := store.OpenSpec(ctx, d.cfg.Store, "")
	if err != nil {
		return nil, "", err
	}
	defer st.Close()
	ca, how, err := controller.OpenSharedCA(ctx, dir, st)
	if how == "shared" {
		how = "" // as it was, and the store's
	}
	return ca, how, err
}

// localIdentity gives the controller host's agent its certificate straight from the CA.
func (d *Daemon) localIdentity() error {
	id, err := pki.LoadIdentity(d.identityDir())
	if err == nil && id.Name() == d.cfg.Name && !id.NeedsRenewal(time.Now()) && id.Leaf().CheckSignatureFrom(d.ca.Cert()) == nil {
		d.id = id
		return nil
	}
	key, err := pki.NewKey()
	if err != nil {
		return err
	}
	der, err := d.ca.IssueHost(d.cfg.Name, key.Public(), true)
	if err != nil {
		return err
	}
	d.id, err = pki.SaveIdentity(d.identityDir(), key, der, d.ca.Cert().Raw)
	return err
}

// join trades the join token for a host certificate.
func (d *Daemon) join(ctx context.Context) error {
	if d.cfg.JoinToken == "" {
		return fmt.Errorf("no host certificate in %s and no join token: give --join-token-file FILE (or DIST_JOIN_TOKEN) with --ca-file or --ca-fingerprint", d.identityDir())
	}
	var trust *tls.Config
	var pinned *x509.Certificate
	switch {
	case d.cfg.CAFile != "":
		b, err := os.ReadFile(d.cfg.CAFile)
		if err != nil {
			return fmt.Errorf("ca file: %w", err)
		}
		if pinned, err = pki.ParseCertPEM(b); err != nil {
			return fmt.Errorf("ca file %s: %w", d.cfg.CAFile, err)
		}
		p := x509.NewCertPool()
		p.AddCert(pinned)
		trust = pki.ControllerConfig(p, "")
	case d.cfg.CAFingerprint != "":
		trust = pki.ControllerConfig(nil, d.cfg.CAFingerprint)
	default:
		return errors.New("cannot trust the controller to join it: give --ca-file FILE or --ca-fingerprint sha256:… (the controller logs both at start)")
	}
	key, err := pki.NewKey()
	if err != nil {
		return err
	}
	csr, err := pki.CSR(key, d.cfg.Name)
	if err != nil {
		return err
	}
	cl := api.NewMulti(d.cfg.Controllers, d.cfg.JoinToken)
	cl.HTTP = &http.Client{Timeout: 30 * time.Second, Transport: api.NewTransport(&http.Transport{TLSClientConfig: trust})}
	ans, err := cl.Join(ctx, api.JoinRequest{Name: d.cfg.Name, CSR: string(csr)})
	if err != nil {
		return fmt.Errorf("join %s: %w", d.cfg.Controller, err)
	}
	ca, err := pki.ParseCertPEM([]byte(ans.CA))
	if err != nil {
		return fmt.Errorf("join answer: ca: %w", err)
	}
	// The CA kept from now on must be the one trusted for the join.
	if (pinned != nil && !ca.Equal(pinned)) || (pinned == nil && pki.Fingerprint(ca.Raw) != d.cfg.CAFingerprint) {
		return errors.New("join answer: the controller answered another ca than the one trusted")
	}
	cert, err := pki.ParseCertPEM([]byte(ans.Cert))
	if err != nil {
		return fmt.Errorf("join answer: certificate: %w", err)
	}
	if cert.Subject.CommonName != d.cfg.Name {
		return fmt.Errorf("join answer: certificate for %q, not %q", cert.Subject.CommonName, d.cfg.Name)
	}
	d.id, err = pki.SaveIdentity(d.identityDir(), key, cert.Raw, ca.Raw)
	if err != nil {
		return err
	}
	d.log.Info("joined: host certificate kept", "dir", d.identityDir(), "until", cert.NotAfter.Format(time.RFC3339))
	return nil
}

// renewLoop renews the host certificate once a third of its life is left: from the local CA on
// a controller host, over POST /v1/join with the certificate itself elsewhere. A failed renewal
// is tried again every few minutes while the certificate lasts.
func (d *Daemon) renewLoop(ctx context.Context, ctl *api.Client) {
	for {
		leaf := d.id.Leaf()
		at := leaf.NotAfter.Add(-leaf.NotAfter.Sub(leaf.NotBefore) / 3)
		wait := time.Until(at)
		if wait < 0 {
			wait = 0
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		if err := d.renew(ctx, ctl); err != nil {
			d.log.Warn("host certificate not renewed: trying again", "err", err, "expires", leaf.NotAfter.Format(time.RFC3339))
			select {
			case <-ctx.Done():
				return
			case <-time.After(5 * time.Minute):
			}
			continue
		}
		d.log.Info("host certificate renewed", "until", d.id.Leaf().NotAfter.Format(time.RFC3339))
	}
}

func (d *Daemon) renew(ctx context.Context, ctl *api.Client) error {
	key, err := pki.NewKey()
	if err != nil {
		return err
	}
	if d.ca != nil {
		der, err := d.ca.IssueHost(d.cfg.Name, key.Public(), true)
		if err != nil {
			return err
		}
		return d.id.Replace(key, der)
	}
	csr, err := pki.CSR(key, d.cfg.Name)
	if err != nil {
		return err
	}
	cl := *ctl
	cl.Token = "" // the certificate authenticates a renewal
	ans, err := cl.Join(ctx, api.JoinRequest{Name: d.cfg.Name, CSR: string(csr)})
	if err != nil {
		return err
	}
	cert, err := pki.ParseCertPEM([]byte(ans.Cert))
	if err != nil {
		return fmt.Errorf("renewal answer: %w", err)
	}
	return d.id.Replace(key, cert.Raw)
}

// servingHosts are the addresses the controller's certificate must name: the listener's (every
// local address when it listens on all), the advertised URL's host, and this machine's name.
func servingHosts(a net.Addr, advertise string) []string {
	var hosts []string
	if tcp, ok := a.(*net.TCPAddr); ok && tcp.IP != nil && !tcp.IP.IsUnspecified() {
		hosts = append(hosts, tcp.IP.String())
	} else if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, ad := range addrs {
			if n, ok := ad.(*net.IPNet); ok {
				hosts = append(hosts, n.IP.String())
			}
		}
	}
	if u, err := url.Parse(advertise); err == nil && u.Hostname() != "" {
		hosts = append(hosts, u.Hostname())
	}
	if h, err := os.Hostname(); err == nil {
		hosts = append(hosts, h)
	}
	return hosts
}

// CAFile is the CA certificate this daemon trusts ("" in plain HTTP): a controller's own, or the
// one a host kept when it joined.
func (d *Daemon) CAFile() string {
	switch {
	case d.ca != nil:
		return d.ca.CertFile()
	case d.id != nil:
		return d.id.CAFile()
	}
	return ""
}

// CAFingerprint is the fingerprint of the controller's CA ("" but on a TLS controller).
func (d *Daemon) CAFingerprint() string {
	if d.ca == nil {
		return ""
	}
	return d.ca.Fingerprint()
}

// ClientTLS is TLS to this fleet's controller for operators' clients (nil in plain HTTP).
func (d *Daemon) ClientTLS() *tls.Config {
	if d.id == nil {
		return nil
	}
	return pki.ControllerConfig(d.id.Pool(), "")
}

// PeerTLS is the TLS of this host to peers and origins, with its certificate (nil in plain HTTP).
func (d *Daemon) PeerTLS() *tls.Config {
	if d.id == nil {
		return nil
	}
	return d.id.PeerConfig()
}
