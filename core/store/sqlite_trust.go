package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

var _ HostTrustStore = (*SQLite)(nil)

// SetApproval writes the decision about a host and moves the trust epoch on.
func (s *SQLite) SetApproval(ctx context.Context, a HostApproval) error {
	return s.trustTx(ctx, "approval of host "+a.Name, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO host_approvals (name, state, at, decided_by) VALUES (?, ?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET state = excluded.state, at = excluded.at, decided_by = excluded.decided_by`,
			a.Name, a.State, toMs(a.At), a.By)
		return err
	})
}

// Approvals returns every decision, ordered by name.
func (s *SQLite) Approvals(ctx context.Context) ([]HostApproval, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name, state, at, decided_by FROM host_approvals ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list host approvals: %w", err)
	}
	return scanApprovals(rows)
}

// AddRevocations appends revocations and moves the trust epoch on, in one transaction.
func (s *SQLite) AddRevocations(ctx context.Context, rs []Revocation) error {
	return s.trustTx(ctx, "revocations", func(tx *sql.Tx) error {
		for _, r := range rs {
			if _, err := tx.ExecContext(ctx, `INSERT INTO revocations (host, serial, revoked_at, revoked_by) VALUES (?, ?, ?, ?)`,
				r.Host, r.Serial, toMs(r.At), r.By); err != nil {
				return err
			}
		}
		return nil
	})
}

// Revocations returns every revocation, oldest first.
func (s *SQLite) Revocations(ctx context.Context) ([]Revocation, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT host, serial, revoked_at, revoked_by FROM revocations ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list revocations: %w", err)
	}
	return scanRevocations(rows)
}

// TrustEpoch answers the counter every approval and revocation moves on.
func (s *SQLite) TrustEpoch(ctx context.Context) (int64, error) {
	var n int64
	if err := s.db.QueryRowContext(ctx, `SELECT COALESCE((SELECT n FROM trust_epoch WHERE id = 1), 0)`).Scan(&n); err != nil {
		return 0, fmt.Errorf("read trust epoch: %w", err)
	}
	return n, nil
}

// KeepCA stores the CA unless one is stored, and answers the stored one.
func (s *SQLite) KeepCA(ctx context.Context, certPEM, keyPEM []byte, at time.Time) ([]byte, []byte, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("keep ca: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO fleet_ca (id, cert, key, created_at) VALUES (1, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
		string(certPEM), string(keyPEM), toMs(at)); err != nil {
		return nil, nil, fmt.Errorf("keep ca: %w", err)
	}
	var c, k string
	if err := tx.QueryRowContext(ctx, `SELECT cert, key FROM fleet_ca WHERE id = 1`).Scan(&c, &k); err != nil {
		return nil, nil, fmt.Errorf("keep ca: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, nil, fmt.Errorf("keep ca: %w", err)
	}
	return []byte(c), []byte(k), nil
}

// StoredCA answers the stored CA; ErrNotFound when there is none.
func (s *SQLite) StoredCA(ctx context.Context) ([]byte, []byte, error) {
	var c, k string
	err := s.db.QueryRowContext(ctx, `SELECT cert, key FROM fleet_ca WHERE id = 1`).Scan(&c, &k)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, fmt.Errorf("stored ca: %w", ErrNotFound)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("stored ca: %w", err)
	}
	return []byte(c), []byte(k), nil
}

// trustTx runs fn and moves the trust epoch on, in one transaction.
func (s *SQLite) trustTx(ctx context.Context, what string, fn func(*sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store %s: %w", what, err)
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return fmt.Errorf("store %s: %w", what, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO trust_epoch (id, n) VALUES (1, 1) ON CONFLICT (id) DO UPDATE SET n = trust_epoch.n + 1`); err != nil {
		return fmt.Errorf("store %s: trust epoch: %w", what, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store %s: %w", what, err)
	}
	return nil
}

// scanApprovals reads rows of (name, state, at, decided_by) and closes them.
func scanApprovals(rows *sql.Rows) ([]HostApproval, error) {
	defer rows.Close()
	var out []HostApproval
	for rows.Next() {
		var (
			a  HostApproval
			at int64
		)
		if err := rows.Scan(&a.Name, &a.State, &at, &a.By); err != nil {
			return nil, fmt.Errorf("list host approvals: %w", err)
		}
		a.At = fromMs(at)
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list host approvals: %w", err)
	}
	return out, nil
}

// scanRevocations reads rows of (host, serial, revoked_at, revoked_by) and closes them.
func scanRevocations(rows *sql.Rows) ([]Revocation, error) {
	defer rows.Close()
	var out []Revocation
	for rows.Next() {
		var (
			r  Revocation
			at int64
		)
		if err := rows.Scan(&r.Host, &r.Serial, &at, &r.By); err != nil {
			return nil, fmt.Errorf("list revocations: %w", err)
		}
		r.At = fromMs(at)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list revocations: %w", err)
	}
	return out, nil
}
