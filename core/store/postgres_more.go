package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"dist/core/api"
	"dist/core/quota"
)

// The PostgreSQL side of lifecycle.go, samples.go, origins.go, tokens.go and audit.go.

// Lifecycle.

// SetLifecycle stores the deadline and priority.
func (p *Postgres) SetLifecycle(ctx context.Context, id string, deadline time.Time, priority int) error {
	err := mustAffect(p.db.ExecContext(ctx, `UPDATE distributions SET deadline = $1, priority = $2 WHERE id = $3`,
		toMs(deadline), priority, id))
	if err != nil {
		return fmt.Errorf("set lifecycle of distribution %s: %w", id, err)
	}
	return nil
}

// Lifecycles answers deadline and priority by distribution id.
func (p *Postgres) Lifecycles(ctx context.Context) (map[string]DistLifecycle, error) {
	rows, err := p.db.QueryContext(ctx, `SELECT id, deadline, priority FROM distributions
		WHERE deadline <> 0 OR priority <> 0`)
	if err != nil {
		return nil, fmt.Errorf("lifecycles: %w", err)
	}
	defer rows.Close()
	out := map[string]DistLifecycle{}
	for rows.Next() {
		var (
			id string
			dl int64
			lc DistLifecycle
		)
		if err := rows.Scan(&id, &dl, &lc.Priority); err != nil {
			return nil, fmt.Errorf("lifecycles: %w", err)
		}
		lc.Deadline = fromMs(dl)
		out[id] = lc
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("lifecycles: %w", err)
	}
	return out, nil
}

// AddAssignments inserts the assignments that do not exist yet, in one transaction.
func (p *Postgres) AddAssignments(ctx context.Context, distID string, as []api.Assignment) ([]string, error) {
	var added []string
	err := p.inTx(ctx, nil, func(tx *sql.Tx) error {
		added = nil
		var ok bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM distributions WHERE id = $1)`, distID).Scan(&ok); err != nil {
			return err
		}
		if !ok {
			return ErrNotFound
		}
		for _, a := range as {
			if !a.Role.Assignable() {
				return fmt.Errorf("assignment of %s: unknown role %q", a.Host, a.Role)
			}
			id := api.AssignmentID(distID, a.Host, a.Role)
			state := a.State
			if state == "" {
				state = api.TaskPending
			}
			res, err := tx.ExecContext(ctx, `INSERT INTO assignments (id, dist_id, host, role, state, updated_at)
				VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING`,
				id, distID, a.Host, a.Role, state, toMs(a.UpdatedAt))
			if err != nil {
				return fmt.Errorf("assignment %s: %w", id, err)
			}
			if n, err := res.RowsAffected(); err == nil && n > 0 {
				added = append(added, id)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("add assignments to distribution %s: %w", distID, err)
	}
	return added, nil
}

// EndAssignment moves an unfinished assignment to state with errMsg.
func (p *Postgres) EndAssignment(ctx context.Context, id string, state api.TaskState, errMsg string, at time.Time) (bool, error) {
	res, err := p.db.ExecContext(ctx, `UPDATE assignments SET state = $1, error = $2, updated_at = $3
		WHERE id = $4 AND state NOT IN ('done', 'failed', 'cancelled')`, state, errMsg, toMs(at), id)
	if err != nil {
		return false, fmt.Errorf("end assignment %s: %w", id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("end assignment %s: %w", id, err)
	}
	return n > 0, nil
}

// ReplaceRelay swaps a lost relay for next in one transaction, with its event.
func (p *Postgres) ReplaceRelay(ctx context.Context, distID, lost, reason, next string, at time.Time, ev Event) error {
	if ev.At.IsZero() {
		ev.At = at
	}
	err := p.inTx(ctx, nil, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE assignments SET state = 'failed', error = $1, updated_at = $2
			WHERE id = $3 AND state NOT IN ('done', 'failed', 'cancelled')`,
			reason, toMs(at), api.AssignmentID(distID, lost, api.RoleRelay))
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO assignments (id, dist_id, host, role, state, updated_at)
			SELECT $1::text, $2::text, $3::text, 'relay', 'pending', $4::bigint
			WHERE EXISTS (SELECT 1 FROM distributions WHERE id = $2::text)
			ON CONFLICT (id) DO NOTHING`,
			api.AssignmentID(distID, next, api.RoleRelay), distID, next, toMs(at))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return fmt.Errorf("relay %s: %w or already a relay", next, ErrNotFound)
		}
		return pgAddEvent(ctx, tx, ev)
	})
	if err != nil {
		return fmt.Errorf("replace relay %s of distribution %s: %w", lost, distID, err)
	}
	return nil
}

// ReopenAssignment sets a failed assignment back to pending and appends ev, in one transaction.
func (p *Postgres) ReopenAssignment(ctx context.Context, id string, at time.Time, ev Event) (bool, error) {
	if ev.At.IsZero() {
		ev.At = at
	}
	var ok bool
	err := p.inTx(ctx, nil, func(tx *sql.Tx) error {
		ok = false
		res, err := tx.ExecContext(ctx, `UPDATE assignments SET state = 'pending', error = '', updated_at = $1
			WHERE id = $2 AND state = 'failed'`, toMs(at), id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		if err := pgAddEvent(ctx, tx, ev); err != nil {
			return err
		}
		ok = true
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("reopen assignment %s: %w", id, err)
	}
	return ok, nil
}

// Samples.

// AddSamples appends samples in one transaction; one whose distribution is gone is dropped.
func (p *Postgres) AddSamples(ctx context.Context, ss []Sample) error {
	if len(ss) == 0 {
		return nil
	}
	err := p.inTx(ctx, nil, func(tx *sql.Tx) error {
		for _, x := range ss {
			if _, err := tx.ExecContext(ctx, `INSERT INTO samples (dist_id, host, role, at, state, have,
				bytes_bt, bytes_http_relay, bytes_http_origin, bytes_up, peers)
				SELECT $1::text, $2::text, $3::text, $4::bigint, $5::text, $6::bigint, $7::bigint, $8::bigint,
					$9::bigint, $10::bigint, $11::bigint
				WHERE EXISTS (SELECT 1 FROM distributions WHERE id = $1::text)`,
				x.DistID, x.Host, x.Role, toMs(x.At), x.State, x.Have,
				x.BytesBT, x.BytesHTTPRelay, x.BytesHTTPOrigin, x.BytesUp, x.Peers); err != nil {
				return fmt.Errorf("sample of %s/%s: %w", x.DistID, x.Host, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("add samples: %w", err)
	}
	return nil
}

// Samples answers a distribution's samples, oldest first.
func (p *Postgres) Samples(ctx context.Context, distID string) ([]Sample, error) {
	rows, err := p.db.QueryContext(ctx, `SELECT dist_id, host, role, at, state, have, bytes_bt,
		bytes_http_relay, bytes_http_origin, bytes_up, peers FROM samples WHERE dist_id = $1
		ORDER BY at, id`, distID)
	if err != nil {
		return nil, fmt.Errorf("samples of distribution %s: %w", distID, err)
	}
	defer rows.Close()
	var out []Sample
	for rows.Next() {
		var (
			x  Sample
			at int64
		)
		if err := rows.Scan(&x.DistID, &x.Host, &x.Role, &at, &x.State, &x.Have, &x.BytesBT,
			&x.BytesHTTPRelay, &x.BytesHTTPOrigin, &x.BytesUp, &x.Peers); err != nil {
			return nil, fmt.Errorf("samples of distribution %s: %w", distID, err)
		}
		x.At = fromMs(at)
		out = append(out, x)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("samples of distribution %s: %w", distID, err)
	}
	return out, nil
}

// RelayRates answers, per relay and client site, the bytes of finished clients over their download
// time in the last n distributions; div truncates as SQLite's integer division does.
func (p *Postgres) RelayRates(ctx context.Context, n int) ([]RelayRate, error) {
	rows, err := p.db.QueryContext(ctx, `SELECT r.host, COALESCE(h.labels::jsonb ->> 'site', ''),
			div(SUM(c.have) * 1000, SUM(c.done_at - c.first_byte_at))::bigint
		FROM assignments r
		JOIN assignments c ON c.dist_id = r.dist_id AND c.role = 'client'
			AND c.first_byte_at > 0 AND c.done_at > c.first_byte_at
		JOIN hosts h ON h.name = c.host
		WHERE r.role = 'relay' AND r.state IN ('seeding', 'done')
			AND r.dist_id IN (SELECT id FROM distributions ORDER BY created_at DESC LIMIT $1)
		GROUP BY r.host, 2`, n)
	if err != nil {
		return nil, fmt.Errorf("relay rates: %w", err)
	}
	defer rows.Close()
	var out []RelayRate
	for rows.Next() {
		var r RelayRate
		if err := rows.Scan(&r.Relay, &r.Site, &r.Rate); err != nil {
			return nil, fmt.Errorf("relay rates: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("relay rates: %w", err)
	}
	return out, nil
}

// Origins.

// Origins returns every origin, ordered by key.
func (p *Postgres) Origins(ctx context.Context) ([]Origin, error) {
	rows, err := p.db.QueryContext(ctx, `SELECT origin, max_conns, max_rate, max_bytes, window_ms,
		window_start, spent, factor, updated_at FROM origins ORDER BY origin`)
	if err != nil {
		return nil, fmt.Errorf("list origins: %w", err)
	}
	defer rows.Close()
	var out []Origin
	for rows.Next() {
		var (
			o                      Origin
			window, start, updated int64
		)
		if err := rows.Scan(&o.Origin, &o.Limits.MaxConns, &o.Limits.MaxRate, &o.Limits.MaxBytes, &window,
			&start, &o.Snapshot.Spent, &o.Snapshot.Factor, &updated); err != nil {
			return nil, fmt.Errorf("list origins: %w", err)
		}
		o.Limits.Window = time.Duration(window) * time.Millisecond
		o.Snapshot.WindowStart = fromMs(start)
		o.UpdatedAt = fromMs(updated)
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list origins: %w", err)
	}
	return out, nil
}

// PutOriginLimits inserts or changes an origin's limits, keeping its snapshot.
func (p *Postgres) PutOriginLimits(ctx context.Context, origin string, l quota.Limits, at time.Time) error {
	_, err := p.db.ExecContext(ctx, `INSERT INTO origins (origin, max_conns, max_rate, max_bytes, window_ms, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (origin) DO UPDATE SET max_conns = excluded.max_conns, max_rate = excluded.max_rate,
			max_bytes = excluded.max_bytes, window_ms = excluded.window_ms, updated_at = excluded.updated_at`,
		origin, l.MaxConns, l.MaxRate, l.MaxBytes, l.Window.Milliseconds(), toMs(at))
	if err != nil {
		return fmt.Errorf("store origin %s: %w", origin, err)
	}
	return nil
}

// PutOriginSnapshot inserts or changes an origin's snapshot, keeping its limits.
func (p *Postgres) PutOriginSnapshot(ctx context.Context, origin string, snap quota.Snapshot, at time.Time) error {
	_, err := p.db.ExecContext(ctx, `INSERT INTO origins (origin, window_start, spent, factor, updated_at)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (origin) DO UPDATE SET window_start = excluded.window_start, spent = excluded.spent,
			factor = excluded.factor, updated_at = excluded.updated_at`,
		origin, toMs(snap.WindowStart), snap.Spent, snap.Factor, toMs(at))
	if err != nil {
		return fmt.Errorf("store spent bytes of origin %s: %w", origin, err)
	}
	return nil
}

// Tokens and audit.

// CreateToken adds a token; ErrExists when the name (or, by chance, the secret) is taken.
func (p *Postgres) CreateToken(ctx context.Context, t Token) error {
	_, err := p.db.ExecContext(ctx, `INSERT INTO tokens (name, hash, role, created_at, expires_at, created_by)
		VALUES ($1, $2, $3, $4, $5, $6)`, t.Name, t.Hash, t.Role, toMs(t.CreatedAt), toMs(t.ExpiresAt), t.CreatedBy)
	if pgDuplicate(err) {
		return fmt.Errorf("create token %s: %w", t.Name, ErrExists)
	}
	if err != nil {
		return fmt.Errorf("create token %s: %w", t.Name, err)
	}
	return nil
}

// Tokens returns every token, ordered by name.
func (p *Postgres) Tokens(ctx context.Context) ([]Token, error) {
	rows, err := p.db.QueryContext(ctx, `SELECT name, hash, role, created_at, expires_at, created_by
		FROM tokens ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	return scanTokens(rows)
}

// DeleteToken removes a token by name; ErrNotFound when unknown.
func (p *Postgres) DeleteToken(ctx context.Context, name string) error {
	if err := mustAffect(p.db.ExecContext(ctx, `DELETE FROM tokens WHERE name = $1`, name)); err != nil {
		return fmt.Errorf("delete token %s: %w", name, err)
	}
	return nil
}

// AddAudit appends one entry; its ID is filled by the store.
func (p *Postgres) AddAudit(ctx context.Context, e AuditEntry) error {
	_, err := p.db.ExecContext(ctx, `INSERT INTO audit (at, who, role, action, target, remote, status, result)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, toMs(e.At), e.Who, e.Role, e.Action, e.Target, e.Remote, e.Status, e.Result)
	if err != nil {
		return fmt.Errorf("append audit entry %s by %s: %w", e.Action, e.Who, err)
	}
	return nil
}

// Audit returns the newest entries, newest first (limit <= 0: all).
func (p *Postgres) Audit(ctx context.Context, limit int) ([]AuditEntry, error) {
	rows, err := p.db.QueryContext(ctx, `SELECT id, at, who, role, action, target, remote, status, result
		FROM audit ORDER BY id DESC LIMIT $1`, pgLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("list audit: %w", err)
	}
	return scanAudit(rows)
}
