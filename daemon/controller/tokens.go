package controller

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"dist/core/store"
)

// Role is what a bearer token lets its holder do. Each role includes the ones before it, join
// apart: a join token may only exchange itself for a host certificate.
type Role int

const (
	RoleNone    Role = iota
	RoleJoin         // may only exchange itself for a host certificate
	RoleRead         // ls, show, report, events, hosts, top
	RoleOperate      // push, cancel
	RoleAdmin        // origin limits, tokens, hosts, backup, audit
)

var roleNames = map[Role]string{RoleNone: "none", RoleJoin: "join", RoleRead: "read", RoleOperate: "operate", RoleAdmin: "admin"}

func (r Role) String() string {
	if n, ok := roleNames[r]; ok {
		return n
	}
	return fmt.Sprintf("role(%d)", int(r))
}

// ParseRole reads a role name as `dist token create --role` takes it.
func ParseRole(s string) (Role, error) {
	for r, n := range roleNames {
		if r != RoleNone && n == s {
			return r, nil
		}
	}
	return RoleNone, fmt.Errorf("unknown role %q: use read, operate, admin or join", s)
}

// Token lifetimes: a join token is a short-lived secret handed to a new host, an operator token
// lives until revoked unless its creator gave a TTL.
const (
	DefaultJoinTTL = time.Hour
	maxTokenTTL    = 10 * 365 * 24 * time.Hour
)

// Names the built-in tokens answer to; named tokens may not take them.
const (
	adminTokenName = "admin"
	hostTokenName  = "host-token"
)

// TokenRequest is the body of POST /v1/tokens.
type TokenRequest struct {
	Name       string `json:"name"`
	Role       string `json:"role"`
	TTLSeconds int64  `json:"ttl_s,omitempty"` // 0: join tokens DefaultJoinTTL, others never expire
}

// TokenCreated is the answer of POST /v1/tokens: the only time the secret is shown.
type TokenCreated struct {
	store.Token
	Secret string `json:"secret"`
}

// tokenBook keeps the named tokens in memory, by the hash of their secret, as loaded once from
// the store: a request is authenticated without a query, and the controller, the only writer,
// changes both together.
type tokenBook struct {
	mu     sync.Mutex
	st     store.TrustStore // nil: the store keeps no tokens, only the built-in ones work
	loaded bool
	byHash map[string]store.Token
}

func (b *tokenBook) load(ctx context.Context) error {
	if b.loaded || b.st == nil {
		return nil
	}
	ts, err := b.st.Tokens(ctx)
	if err != nil {
		return err
	}
	b.byHash = make(map[string]store.Token, len(ts))
	for _, t := range ts {
		b.byHash[t.Hash] = t
	}
	b.loaded = true
	return nil
}

func hashToken(tok string) string {
	h := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(h[:])
}

// tokenRole answers whose a bearer token is and what it may do. The kept host token of an
// existing controller is a join secret: hosts that hold it can still join.
func (s *Server) tokenRole(tok string) (name string, role Role, ok bool) {
	switch {
	case tok == "":
		return "", RoleNone, false
	case tokenMatches(tok, s.o.AdminToken):
		return adminTokenName, RoleAdmin, true
	case tokenMatches(tok, s.o.HostToken):
		return hostTokenName, RoleJoin, true
	}
	b := &s.trust.tokens
	b.mu.Lock()
	defer b.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := b.load(ctx); err != nil {
		s.log.Error("load tokens", "err", err)
		return "", RoleNone, false
	}
	// A map lookup by hash: the secret itself is never compared, so its timing tells nothing.
	t, found := b.byHash[hashToken(tok)]
	if !found || t.Expired(s.now()) {
		return "", RoleNone, false
	}
	r, err := ParseRole(t.Role)
	if err != nil {
		return "", RoleNone, false
	}
	return t.Name, r, true
}

// namedToken answers the named token a bearer secret is (not the built-in ones), expired or not.
func (s *Server) namedToken(tok string) (store.Token, bool) {
	b := &s.trust.tokens
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.loaded {
		return store.Token{}, false
	}
	t, ok := b.byHash[hashToken(tok)]
	return t, ok
}

// createToken answers POST /v1/tokens with the new token and its secret.
func (s *Server) createToken(w http.ResponseWriter, r *http.Request) error {
	var req TokenRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if err := validTokenName(req.Name); err != nil {
		return err
	}
	role, err := ParseRole(req.Role)
	if err != nil {
		return badRequest("%v", err)
	}
	ttl := time.Duration(req.TTLSeconds) * time.Second
	switch {
	case req.TTLSeconds < 0 || ttl > maxTokenTTL:
		return badRequest("ttl %d s is out of range: use 1 s to 10 years, or none", req.TTLSeconds)
	case ttl == 0 && role == RoleJoin:
		ttl = DefaultJoinTTL
	}
	secret, err := newSecret()
	if err != nil {
		return fmt.Errorf("token %s: %w", req.Name, err)
	}
	now := s.now().Truncate(time.Millisecond).UTC()
	t := store.Token{Name: req.Name, Hash: hashToken(secret), Role: role.String(), CreatedAt: now, CreatedBy: callerOf(r).name}
	if ttl > 0 {
		t.ExpiresAt = now.Add(ttl)
	}
	b := &s.trust.tokens
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.st == nil {
		return errorf(http.StatusNotImplemented, codeBadRequest, "this controller's store keeps no tokens")
	}
	if err := b.load(r.Context()); err != nil {
		return fmt.Errorf("load tokens: %w", err)
	}
	if err := b.st.CreateToken(r.Context(), t); err != nil {
		if errors.Is(err, store.ErrExists) {
			return errorf(http.StatusConflict, "conflict", "token %s exists: revoke it first (dist token revoke %s) or choose another name", req.Name, req.Name)
		}
		return fmt.Errorf("store token %s: %w", req.Name, err)
	}
	b.byHash[t.Hash] = t
	s.log.Info("token created", "token", t.Name, "role", t.Role, "by", t.CreatedBy)
	writeJSON(w, http.StatusCreated, TokenCreated{Token: t, Secret: secret})
	return nil
}

// listTokens answers GET /v1/tokens: names, roles and lifetimes, never secrets.
func (s *Server) listTokens(w http.ResponseWriter, r *http.Request) error {
	b := &s.trust.tokens
	if b.st == nil {
		writeJSON(w, http.StatusOK, []store.Token{})
		return nil
	}
	ts, err := b.st.Tokens(r.Context())
	if err != nil {
		return fmt.Errorf("list tokens: %w", err)
	}
	if ts == nil {
		ts = []store.Token{}
	}
	writeJSON(w, http.StatusOK, ts)
	return nil
}

// revokeToken answers DELETE /v1/tokens/{name}: the token stops working at once.
func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	b := &s.trust.tokens
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.st == nil {
		return errorf(http.StatusNotFound, codeNotFound, "token %s does not exist: see dist token ls", name)
	}
	if err := b.load(r.Context()); err != nil {
		return fmt.Errorf("load tokens: %w", err)
	}
	if err := b.st.DeleteToken(r.Context(), name); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return errorf(http.StatusNotFound, codeNotFound, "token %s does not exist: see dist token ls", name)
		}
		return fmt.Errorf("revoke token %s: %w", name, err)
	}
	for h, t := range b.byHash {
		if t.Name == name {
			delete(b.byHash, h)
		}
	}
	s.log.Info("token revoked", "token", name, "by", callerOf(r).name)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// validTokenName keeps names printable, short and apart from the built-in tokens'.
func validTokenName(name string) error {
	switch {
	case name == "":
		return badRequest("token name is empty: set --name")
	case len(name) > 64:
		return badRequest("token name is %d characters long: use at most 64", len(name))
	case name == adminTokenName || name == hostTokenName:
		return badRequest("token name %q is reserved: choose another --name", name)
	case strings.ContainsFunc(name, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_.@", r))
	}):
		return badRequest("token name %q holds characters other than letters, digits and -_.@: set --name to a plain name", name)
	}
	return nil
}

// newSecret is 256 random bits, prefixed so that a leaked secret is recognisable in a scan.
func newSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("read random bytes: %w", err)
	}
	return "dist_" + hex.EncodeToString(b), nil
}
