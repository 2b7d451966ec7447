package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Token is a named operator token. Only the SHA-256 of its secret is kept: a copy of the
// database does not hand out the controller.
type Token struct {
	Name      string    `json:"name"`
	Hash      string    `json:"-"` // hex SHA-256 of the secret
	Role      string    `json:"role"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at,omitzero"` // zero: never
	CreatedBy string    `json:"created_by,omitempty"`
}

// Expired reports whether the token no longer authenticates at now.
func (t Token) Expired(now time.Time) bool { return !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt) }

// AuditEntry is one operator or admin action: who did what, when, from where, and how it ended.
type AuditEntry struct {
	ID     int64     `json:"id"`
	At     time.Time `json:"at"`
	Who    string    `json:"who"`  // token name ("admin" for the admin token)
	Role   string    `json:"role"` // the role the token held
	Action string    `json:"action"`
	Target string    `json:"target,omitempty"` // distribution id, token name, origin...
	Remote string    `json:"remote,omitempty"` // the caller's address
	Status int       `json:"status"`           // HTTP status of the answer
	Result string    `json:"result,omitempty"` // "ok" or the error answered
}

// TrustStore keeps named tokens and the audit trail. A controller whose Store also is a
// TrustStore accepts named tokens and records its audit.
type TrustStore interface {
	// CreateToken adds a token; ErrExists when the name is taken.
	CreateToken(ctx context.Context, t Token) error
	// Tokens returns every token, ordered by name.
	Tokens(ctx context.Context) ([]Token, error)
	// DeleteToken removes a token by name; ErrNotFound when unknown.
	DeleteToken(ctx context.Context, name string) error
	// AddAudit appends one entry.
	AddAudit(ctx context.Context, e AuditEntry) error
	// Audit returns the newest entries, newest first (limit <= 0: all).
	Audit(ctx context.Context, limit int) ([]AuditEntry, error)
}

var _ TrustStore = (*SQLite)(nil)

// CreateToken adds a token; ErrExists when the name (or, by chance, the secret) is taken.
func (s *SQLite) CreateToken(ctx context.Context, t Token) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO tokens (name, hash, role, created_at, expires_at, created_by)
		VALUES (?, ?, ?, ?, ?, ?)`, t.Name, t.Hash, t.Role, toMs(t.CreatedAt), toMs(t.ExpiresAt), t.CreatedBy)
	if isDuplicate(err) {
		return fmt.Errorf("create token %s: %w", t.Name, ErrExists)
	}
	if err != nil {
		return fmt.Errorf("create token %s: %w", t.Name, err)
	}
	return nil
}

// Tokens returns every token, ordered by name.
func (s *SQLite) Tokens(ctx context.Context) ([]Token, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name, hash, role, created_at, expires_at, created_by
		FROM tokens ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	return scanTokens(rows)
}

// DeleteToken removes a token by name; ErrNotFound when unknown.
func (s *SQLite) DeleteToken(ctx context.Context, name string) error {
	if err := mustAffect(s.w.ExecContext(ctx, `DELETE FROM tokens WHERE name = ?`, name)); err != nil {
		return fmt.Errorf("delete token %s: %w", name, err)
	}
	return nil
}

// scanTokens reads the rows of a tokens query (name, hash, role, created_at, expires_at,
// created_by) and closes them.
func scanTokens(rows *sql.Rows) ([]Token, error) {
	defer rows.Close()
	var out []Token
	for rows.Next() {
		var (
			t                Token
			created, expires int64
		)
		if err := rows.Scan(&t.Name, &t.Hash, &t.Role, &created, &expires, &t.CreatedBy); err != nil {
			return nil, fmt.Errorf("list tokens: %w", err)
		}
		t.CreatedAt, t.ExpiresAt = fromMs(created), fromMs(expires)
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	return out, nil
}
