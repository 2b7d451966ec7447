package store

import (
	"context"
	"database/sql"
	"fmt"
)

// AddAudit appends one entry; its ID and an empty At are filled by the store.
func (s *SQLite) AddAudit(ctx context.Context, e AuditEntry) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO audit (at, who, role, action, target, remote, status, result)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, toMs(e.At), e.Who, e.Role, e.Action, e.Target, e.Remote, e.Status, e.Result)
	if err != nil {
		return fmt.Errorf("append audit entry %s by %s: %w", e.Action, e.Who, err)
	}
	return nil
}

// Audit returns the newest entries, newest first (limit <= 0: all).
func (s *SQLite) Audit(ctx context.Context, limit int) ([]AuditEntry, error) {
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	rows, err := s.db.QueryContext(ctx, `SELECT id, at, who, role, action, target, remote, status, result
		FROM audit ORDER BY id DESC LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("list audit: %w", err)
	}
	return scanAudit(rows)
}

// scanAudit reads the rows of an audit query (id, at, who, role, action, target, remote, status,
// result) and closes them.
func scanAudit(rows *sql.Rows) ([]AuditEntry, error) {
	defer rows.Close()
	var out []AuditEntry
	for rows.Next() {
		var (
			e  AuditEntry
			at int64
		)
		if err := rows.Scan(&e.ID, &at, &e.Who, &e.Role, &e.Action, &e.Target, &e.Remote, &e.Status, &e.Result); err != nil {
			return nil, fmt.Errorf("list audit: %w", err)
		}
		e.At = fromMs(at)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list audit: %w", err)
	}
	return out, nil
}
