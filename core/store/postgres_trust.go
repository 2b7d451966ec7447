package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

var _ HostTrustStore = (*Postgres)(nil)

// SetApproval writes the decision about a host and moves the trust epoch on.
func (p *Postgres) SetApproval(ctx context.Context, a HostApproval) error {
	return p.trustTx(ctx, "approval of host "+a.Name, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO host_approvals (name, state, at, decided_by) VALUES ($1, $2, $3, $4)
			ON CONFLICT (name) DO UPDATE SET state = excluded.state, at = excluded.at, decided_by = excluded.decided_by`,
			a.Name, a.State, toMs(a.At), a.By)
		return err
	})
}

// Approvals returns every decision, ordered by name.
func (p *Postgres) Approvals(ctx context.Context) ([]HostApproval, error) {
	rows, err := p.db.QueryContext(ctx, `SELECT name, state, at, decided_by FROM host_approvals ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list host approvals: %w", err)
	}
	return scanApprovals(rows)
}

// AddRevocations appends revocations and moves the trust epoch on, in one transaction.
func (p *Postgres) AddRevocations(ctx context.Context, rs []Revocation) error {
	return p.trustTx(ctx, "revocations", func(tx *sql.Tx) error {
		for _, r := range rs {
			if _, err := tx.ExecContext(ctx, `INSERT INTO revocations (host, serial, revoked_at, revoked_by) VALUES ($1, $2, $3, $4)`,
				r.Host, r.Serial, toMs(r.At), r.By); err != nil {
				return err
			}
		}
		return nil
	})
}

// Revocations returns every revocation, oldest first.
func (p *Postgres) Revocations(ctx context.Context) ([]Revocation, error) {
	rows, err := p.db.QueryContext(ctx, `SELECT host, serial, revoked_at, revoked_by FROM revocations ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list revocations: %w", err)
	}
	return scanRevocations(rows)
}

// TrustEpoch answers the counter every approval and revocation moves on.
func (p *Postgres) TrustEpoch(ctx context.Context) (int64, error) {
	var n int64
	if err := p.db.QueryRowContext(ctx, `SELECT COALESCE((SELECT n FROM trust_epoch WHERE id = 1), 0)`).Scan(&n); err != nil {
		return 0, fmt.Errorf("read trust epoch: %w", err)
	}
	return n, nil
}

// KeepCA stores the CA unless one is stored, and answers the stored one: of controllers starting
// at once, the first to commit wins and the others read its CA.
func (p *Postgres) KeepCA(ctx context.Context, certPEM, keyPEM []byte, at time.Time) ([]byte, []byte, error) {
	tx, err := p.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("keep ca: %w", err)
	}
	defer tx.Rollback()
	// ON CONFLICT waits for a concurrent insert of the row to commit, then does nothing.
	if _, err := tx.ExecContext(ctx, `INSERT INTO fleet_ca (id, cert, key, created_at) VALUES (1, $1, $2, $3) ON CONFLICT (id) DO NOTHING`,
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
func (p *Postgres) StoredCA(ctx context.Context) ([]byte, []byte, error) {
	var c, k string
	err := p.db.QueryRowContext(ctx, `SELECT cert, key FROM fleet_ca WHERE id = 1`).Scan(&c, &k)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, fmt.Errorf("stored ca: %w", ErrNotFound)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("stored ca: %w", err)
	}
	return []byte(c), []byte(k), nil
}

// trustTx runs fn and moves the trust epoch on, in one transaction. The epoch row's lock orders
// the writers: an epoch read after a commit sees that commit's rows.
func (p *Postgres) trustTx(ctx context.Context, what string, fn func(*sql.Tx) error) error {
	tx, err := p.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store %s: %w", what, err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO trust_epoch (id, n) VALUES (1, 1) ON CONFLICT (id) DO UPDATE SET n = trust_epoch.n + 1`); err != nil {
		return fmt.Errorf("store %s: trust epoch: %w", what, err)
	}
	if err := fn(tx); err != nil {
		return fmt.Errorf("store %s: %w", what, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store %s: %w", what, err)
	}
	return nil
}
