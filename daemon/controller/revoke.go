package controller

import (
	"context"
	"crypto/x509"
	"fmt"
	"net/http"
	"time"

	"dist/core/api"
	"dist/core/pki"
	"dist/core/store"
)

// revokeHost answers POST /v1/hosts/{name}/revoke: every certificate of the host issued so far
// is refused from now on, it is offline at once (no peer or relay choice takes it), and it joins
// again only with a join token created after this.
func (s *Server) revokeHost(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	ctx := r.Context()
	if err := s.knownHost(ctx, name); err != nil {
		return err
	}
	d, err := s.revoke(ctx, name, callerOf(r).name)
	if err != nil {
		return err
	}
	s.log.Info("host certificates revoked", "host", name, "serials", d.Serials, "by", callerOf(r).name)
	writeJSON(w, http.StatusOK, d)
	return nil
}

// knownHost answers nil when a decision about host name may be taken: it is registered, or a
// decision about it is stored; else a 404.
func (s *Server) knownHost(ctx context.Context, name string) error {
	if err := s.trustReady(ctx); err != nil {
		return err
	}
	if _, known, err := s.hostByName(ctx, name); err != nil {
		return err
	} else if !known && s.approvalOf(name) == "" {
		return errorf(http.StatusNotFound, codeNotFound, "host %s is not known: see dist hosts", name)
	}
	return nil
}

// revoke withdraws the certificates of host name: by serial the one this controller's CA issued
// last, and every one issued until now (by whichever controller of the database). The CA forgets
// the name, so that a new key may take it at the next join.
func (s *Server) revoke(ctx context.Context, name, by string) (HostDecision, error) {
	if s.o.CA == nil {
		return HostDecision{}, errorf(http.StatusConflict, api.CodeConflict, "this controller serves plain HTTP (--insecure-plain-http): there is no host certificate to revoke")
	}
	ht := &s.trust.hosts
	if ht.st == nil {
		return HostDecision{}, errorf(http.StatusNotImplemented, codeBadRequest, "this controller's store keeps no revocations")
	}
	// The CA's clock: revocations are compared with the issue times it writes (pki.IssuedAt).
	at := s.o.CA.Now().Truncate(time.Millisecond).UTC()
	serial, err := s.o.CA.Forget(name)
	if err != nil {
		return HostDecision{}, fmt.Errorf("revoke host %s: %w", name, err)
	}
	rs := []store.Revocation{{Host: name, At: at, By: by}}
	var serials []string
	if serial != "" {
		rs = append(rs, store.Revocation{Host: name, Serial: serial, At: at, By: by})
		serials = []string{serial}
	}
	ht.loadMu.Lock()
	err = ht.st.AddRevocations(ctx, rs)
	if err == nil {
		ht.mu.Lock()
		if at.After(ht.revokedAt[name]) {
			ht.revokedAt[name] = at
		}
		for _, sn := range serials {
			ht.serials[sn] = name
		}
		ht.mu.Unlock()
		ht.some.Store(true)
	}
	ht.loadMu.Unlock()
	if err != nil {
		return HostDecision{}, fmt.Errorf("revoke host %s: %w", name, err)
	}
	// Offline at once, as after a goodbye: peers asks and relay choices leave it out. It is
	// back only when it registers again, which needs a new certificate.
	s.farewell(name, s.now())
	s.notify.wakeHosts([]string{name})
	return HostDecision{Host: name, Access: accessRevoked, At: at, Serials: serials}, nil
}

// revokedCert reports whether cert was revoked: by its serial, or as one of its host's issued
// before a revocation of them all. Two map lookups under a read lock.
func (s *Server) revokedCert(cert *x509.Certificate) bool {
	ht := &s.trust.hosts
	if !ht.some.Load() {
		return false
	}
	ht.mu.RLock()
	defer ht.mu.RUnlock()
	if _, ok := ht.serials[pki.SerialOf(cert)]; ok {
		return true
	}
	at, ok := ht.revokedAt[cert.Subject.CommonName]
	return ok && !pki.IssuedAt(cert).After(at)
}

// certHost answers the host whose verified client certificate the request carries (ok false
// without one), and a 401 when that certificate was revoked.
func (s *Server) certHost(r *http.Request) (name string, ok bool, err error) {
	cert := clientCert(r)
	if cert == nil || cert.Subject.CommonName == "" {
		return "", false, nil
	}
	name = cert.Subject.CommonName
	if err := s.trustReady(r.Context()); err != nil {
		return name, true, errorf(http.StatusServiceUnavailable, "unavailable", "cannot check the certificate of host %s: %v", name, err)
	}
	if s.revokedCert(cert) {
		return name, true, errorf(http.StatusUnauthorized, api.CodeUnauthorized,
			"certificate of host %s was revoked: it joins again only with a new join token (dist token create --role join)", name)
	}
	s.sawCert(cert)
	return name, true, nil
}

// sawCert keeps, for a host that had its certificates revoked, when the certificate it now uses
// was issued: accessOf then tells the host that joined again from one still on its old
// certificate at another controller. Other hosts cost one atomic load.
func (s *Server) sawCert(cert *x509.Certificate) {
	ht := &s.trust.hosts
	if !ht.some.Load() {
		return
	}
	name, at := cert.Subject.CommonName, pki.IssuedAt(cert)
	ht.mu.RLock()
	_, revoked := ht.revokedAt[name]
	cur := ht.current[name]
	ht.mu.RUnlock()
	if !revoked || !at.After(cur) {
		return
	}
	ht.mu.Lock()
	if at.After(ht.current[name]) {
		ht.current[name] = at
	}
	ht.mu.Unlock()
}

// mayJoinAgain refuses a join by token of a revoked host unless the token is newer than the
// revocation: the join secret the host (or whoever took its key) held before does not bring it
// back. An admin token may always join it. free says whether the certificate that holds the
// name, if any, is a revoked one: it then holds it no longer (a controller of the same database
// whose CA issued it still has it on record).
func (s *Server) mayJoinAgain(ctx context.Context, name string, role Role, tok string) (free bool, err error) {
	if err := s.trustReady(ctx); err != nil {
		return false, err
	}
	ht := &s.trust.hosts
	ht.mu.RLock()
	at, revoked := ht.revokedAt[name]
	ht.mu.RUnlock()
	if !revoked {
		return false, nil
	}
	held, ok := s.o.CA.HeldSince(name)
	free = ok && !held.After(at)
	if role == RoleAdmin {
		return free, nil
	}
	if t, named := s.namedToken(tok); named && t.CreatedAt.After(at) {
		return free, nil
	}
	return false, errorf(http.StatusForbidden, codeForbidden, "host %s was revoked on %s: join it with a join token created since (dist token create --role join)",
		name, at.Format(time.RFC3339))
}
