package controller

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net"
	"net/http"
	"strings"

	"dist/core/api"
)

// codeForbidden answers 403: the caller is known but may not do this.
const codeForbidden = "forbidden"

// callerKind says which kind of credential a request carried.
type callerKind int

const (
	callerNone     callerKind = iota
	callerHost                // a daemon: by its certificate, or by the shared host token in plain mode
	callerOperator            // a person or a script: by a bearer token with a role
)

// caller is who sent a request, as the controller established it. Handlers read it from the
// request's context (callerOf) and never trust a name the request body claims when Verified.
type caller struct {
	kind callerKind
	// name is the host name (host callers) or the token name (operators). A host that came with
	// the shared host token over plain HTTP has no name of its own: it names itself in the request.
	name string
	// verified is true when name comes from a certificate the controller's CA signed.
	verified bool
	role     Role   // operators only
	remote   string // the connection's remote IP
}

type callerKey struct{}

// callerOf answers the caller auth put in the request's context.
func callerOf(r *http.Request) caller {
	c, _ := r.Context().Value(callerKey{}).(caller)
	return c
}

func withCaller(r *http.Request, c caller) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), callerKey{}, c))
}

// mayActAs reports whether the caller may speak for the host named name: a verified host only
// for itself; a plain-mode host for whatever it claims (the shared token proves no more).
func (c caller) mayActAs(name string) bool {
	if c.kind != callerHost {
		return false
	}
	return !c.verified || c.name == name
}

// mayHold reports whether the caller may take or use a lease for holder: its own name, or one of
// its own sub-holders ("NAME/relay").
func (c caller) mayHold(holder string) bool {
	if c.kind != callerHost {
		return false
	}
	return !c.verified || holder == c.name || strings.HasPrefix(holder, c.name+"/")
}

// auth wraps h so that it runs only for a request with a credential the route accepts: an
// operator token whose role reaches the route's (routeRole) when operator is set, a host
// credential otherwise. It answers 401 without a credential it knows and 403 with one that may
// not use the route. Operator and admin actions are audited (audit.go); hosts are rate limited
// per host (ratelimit.go).
func (s *Server) auth(operator bool, h handler) http.Handler {
	next := s.serve(h)
	if operator {
		return s.serve(func(w http.ResponseWriter, r *http.Request) error {
			c, err := s.operatorCaller(r)
			if err != nil {
				var ae *apiError
				if c.kind == callerOperator && errors.As(err, &ae) {
					s.auditRefused(r, c.name, c.role, ae.status, ae.msg)
				}
				return deny(w, err)
			}
			r = withCaller(r, c)
			if !auditable(r) {
				next.ServeHTTP(w, r)
				return nil
			}
			s.audited(w, r, c, next)
			return nil
		})
	}
	return s.serve(func(w http.ResponseWriter, r *http.Request) error {
		c, err := s.hostCaller(r)
		if err != nil {
			return deny(w, err)
		}
		if err := s.mayWait(r, c); err != nil {
			return err
		}
		if q := queryValue(r.URL.RawQuery, "host"); q != "" && !c.mayActAs(q) {
			return errorf(http.StatusForbidden, codeForbidden, "host %s may not act for host %s: each host speaks only for itself", c.name, q)
		}
		if err := s.limitHost(w, r, c); err != nil {
			return err
		}
		next.ServeHTTP(w, withCaller(r, c))
		return nil
	})
}

// deny answers a refused credential; a 401 says how to authenticate.
func deny(w http.ResponseWriter, err error) error {
	var ae *apiError
	if errors.As(err, &ae) && ae.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="dist"`)
	}
	return err
}

// hostCaller establishes the host behind a request on a host route. The name comes from the
// certificate when there is one; the shared host token counts only over plain HTTP (lab mode),
// where it is all there is. With TLS on, the host token is a join secret and opens no host route.
func (s *Server) hostCaller(r *http.Request) (caller, error) {
	remote := remoteIP(r)
	if name, ok, err := s.certHost(r); err != nil {
		return caller{}, err
	} else if ok {
		return caller{kind: callerHost, name: name, verified: true, remote: remote}, nil
	}
	tok, ok := bearer(r)
	if ok && r.TLS == nil && tokenMatches(tok, s.o.HostToken) {
		return caller{kind: callerHost, remote: remote}, nil
	}
	if ok {
		if _, role, known := s.tokenRole(tok); known {
			if role == RoleJoin {
				return caller{}, errorf(http.StatusForbidden, codeForbidden, "a join token opens no host route: join first (dist join) and use the host certificate")
			}
			return caller{}, errorf(http.StatusForbidden, codeForbidden, "an operator token opens no host route: host routes take a host credential")
		}
	}
	return caller{}, errorf(http.StatusUnauthorized, api.CodeUnauthorized, "missing or bad host credential: present the host certificate (or, over plain HTTP, the host token)")
}

// operatorCaller establishes the operator behind a request on an operator route and checks that
// its role reaches the route's.
func (s *Server) operatorCaller(r *http.Request) (caller, error) {
	tok, ok := bearer(r)
	if !ok {
		if name, isHost, err := s.certHost(r); err != nil {
			return caller{}, err
		} else if isHost {
			return caller{}, errorf(http.StatusForbidden, codeForbidden, "host %s may not use %s: it is an operator route", name, r.Pattern)
		}
		return caller{}, errorf(http.StatusUnauthorized, api.CodeUnauthorized, "missing or bad token: set DIST_TOKEN or --token-file")
	}
	name, role, known := s.tokenRole(tok)
	if !known || role == RoleJoin { // a join secret is no operator's credential
		return caller{}, errorf(http.StatusUnauthorized, api.CodeUnauthorized, "missing or bad token: set DIST_TOKEN or --token-file")
	}
	c := caller{kind: callerOperator, name: name, role: role, verified: true, remote: remoteIP(r)}
	need := routeRole(r.Pattern)
	if role < need {
		return c, errorf(http.StatusForbidden, codeForbidden, "token %s has role %s; %s needs role %s", name, role, r.Pattern, need)
	}
	return c, nil
}

// routeRoles is the role each operator route needs. A route missing here needs admin: a route
// added without a thought about who may use it is closed, not open.
var routeRoles = map[string]Role{
	"GET /v1/hosts":                      RoleRead,
	"GET /v1/distributions":              RoleRead,
	"GET /v1/distributions/{id}":         RoleRead,
	"GET /v1/distributions/{id}/report":  RoleRead,
	"GET /v1/events":                     RoleRead,
	"GET /v1/origins":                    RoleRead,
	"POST /v1/distributions":             RoleOperate,
	"POST /v1/distributions/{id}/cancel": RoleOperate,
	"PUT /v1/origins":                    RoleAdmin,
	"GET " + BackupPath:                  RoleAdmin,
	"POST /v1/tokens":                    RoleAdmin,
	"GET /v1/tokens":                     RoleAdmin,
	"DELETE /v1/tokens/{name}":           RoleAdmin,
	"GET /v1/audit":                      RoleAdmin,
}

// routeRole answers the role an operator route needs (admin when not listed).
func routeRole(pattern string) Role {
	if r, ok := routeRoles[pattern]; ok {
		return r
	}
	return RoleAdmin
}

// remoteIP is the connection's remote address without its port.
func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// bearer extracts the token of an "Authorization: Bearer T" header (the scheme is case-insensitive).
func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	const scheme = "bearer "
	if len(h) <= len(scheme) || !strings.EqualFold(h[:len(scheme)], scheme) {
		return "", false
	}
	return strings.TrimSpace(h[len(scheme):]), true
}

// tokenMatches compares in constant time. Both sides are hashed first so that not even the length
// of the configured token leaks. An empty configured token never matches: it means "not enabled".
func tokenMatches(got, want string) bool {
	if want == "" {
		return false
	}
	g, w := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(g[:], w[:]) == 1
}
