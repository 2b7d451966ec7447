package controller

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"

	"dist/core/api"
)

// auth wraps h so that it runs only for a request carrying the admin token, or the host token when
// adminOnly is false.
func (s *Server) auth(adminOnly bool, h handler) http.Handler {
	next := s.serve(h)
	deny := s.serve(func(http.ResponseWriter, *http.Request) error {
		return errorf(http.StatusUnauthorized, api.CodeUnauthorized, "missing or bad token: set --token or DIST_TOKEN")
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := bearer(r)
		if ok && (tokenMatches(tok, s.o.AdminToken) || (!adminOnly && tokenMatches(tok, s.o.HostToken))) {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="dist"`)
		deny.ServeHTTP(w, r)
	})
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
