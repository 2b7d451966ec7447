package controller

import (
	"errors"
	"fmt"
	"net/http"

	"dist/core/api"
	"dist/core/pki"
	"dist/core/store"
)

// joinHost answers POST /v1/join: a host trades a join token for a certificate with its name in
// it, or renews the certificate it presents. A join token (RoleJoin) gets a name no other key
// holds a live certificate for; an admin token may take a held name over (a host reinstalled
// without its data directory); a host presenting its certificate renews its own name only. While
// approval is required (Options.RequireApproval) a host joined by a join token waits for an
// operator's dist hosts approve (approval.go); a revoked host joins again only with a token
// newer than its revocation (revoke.go).
func (s *Server) joinHost(w http.ResponseWriter, r *http.Request) error {
	if s.o.CA == nil {
		return errorf(http.StatusNotFound, codeNotFound, "joining is off: this controller serves plain HTTP (--insecure-plain-http); give hosts --token instead")
	}
	var req api.JoinRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if err := validHostName(req.Name); err != nil {
		return err
	}
	if err := pki.ValidName(req.Name); err != nil {
		return badRequest("%v: set --name", err)
	}
	csr, err := pki.ParseCSR([]byte(req.CSR))
	if err != nil {
		return badRequest("%v", err)
	}
	if cn := csr.Subject.CommonName; cn != "" && cn != req.Name {
		return badRequest("certificate request names %q, the join %q: send one name", cn, req.Name)
	}
	replace, how := false, ""
	var who string // the join token's name: a join by token is audited
	var whoRole Role
	if tok, ok := bearer(r); ok {
		name, role, ok := s.tokenRole(tok)
		who, whoRole = name, role
		if !ok || (role != RoleJoin && role != RoleAdmin) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="dist"`)
			return errorf(http.StatusUnauthorized, api.CodeUnauthorized, "join token refused (wrong or expired): ask an operator for a new one (--join-token-file or DIST_JOIN_TOKEN)")
		}
		replace, how = role == RoleAdmin, "token"
		free, err := s.mayJoinAgain(r.Context(), req.Name, role, tok)
		if err != nil {
			var ae *apiError
			if errors.As(err, &ae) {
				s.auditJoin(r, who, whoRole, req.Name, ae.status, ae.msg)
			}
			return err
		}
		// A name held by a revoked certificate is free, even on a controller of the same
		// database whose CA still has that certificate on record.
		replace = replace || free
	} else if holder, ok, err := s.certHost(r); err != nil {
		return deny(w, err)
	} else if ok {
		if holder != req.Name {
			return errorf(http.StatusForbidden, "forbidden", "host %q cannot renew the certificate of %q: a host renews only its own", holder, req.Name)
		}
		replace, how = true, "renewal"
	} else {
		w.Header().Set("WWW-Authenticate", `Bearer realm="dist"`)
		return errorf(http.StatusUnauthorized, api.CodeUnauthorized, "no join token: give the daemon --join-token-file FILE or DIST_JOIN_TOKEN")
	}
	der, err := s.o.CA.IssueHost(req.Name, csr.PublicKey, replace)
	if errors.Is(err, pki.ErrNameHeld) {
		msg := fmt.Sprintf("%v: give this host another --name, or join with an admin token to take the name over", err)
		s.auditJoin(r, who, whoRole, req.Name, http.StatusConflict, msg)
		return errorf(http.StatusConflict, api.CodeConflict, "%s", msg)
	}
	if err != nil {
		return err
	}
	// After the certificate is made, not before: a join refused (a name held) marks nobody
	// pending. Before it is handed out: a host never holds a certificate its state does not cover.
	if how == "token" {
		if err := s.joinApproval(r.Context(), req.Name, who, whoRole); err != nil {
			return fmt.Errorf("record approval of host %s: %w", req.Name, err)
		}
	}
	s.auditJoin(r, who, whoRole, req.Name, http.StatusOK, "ok")
	s.log.Info("host certificate issued", "name", req.Name, "by", how, "from", r.RemoteAddr)
	writeJSON(w, http.StatusOK, api.JoinAnswer{Cert: string(pki.CertPEM(der)), CA: string(s.o.CA.CertPEM())})
	return nil
}

// auditJoin records a join by token (who is the token's name; "" for a renewal, which is not
// recorded): which name got a certificate, or why not.
func (s *Server) auditJoin(r *http.Request, who string, role Role, host string, status int, result string) {
	st := s.trust.tokens.st
	if who == "" || st == nil {
		return
	}
	s.writeAudit(r, st, store.AuditEntry{At: s.now(), Who: who, Role: role.String(), Action: "host.join",
		Target: host, Remote: remoteIP(r), Status: status, Result: result})
}
