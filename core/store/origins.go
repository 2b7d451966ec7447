package store

import (
	"context"
	"fmt"
	"time"

	"dist/core/quota"
)

// Origin is an origin's policy and the part of its lease state that must survive a restart.
type Origin struct {
	Origin    string         // origin key, scheme://host[:port]
	Limits    quota.Limits   // zero fields: no limit (Window 0: a day)
	Snapshot  quota.Snapshot // spent bytes of the current window and back-off factor
	UpdatedAt time.Time
}

// OriginStore keeps origin policies and their spent bytes. A controller whose Store also is an
// OriginStore keeps them across restarts.
type OriginStore interface {
	// Origins returns every origin, ordered by key.
	Origins(ctx context.Context) ([]Origin, error)
	// PutOriginLimits inserts or changes an origin's limits, keeping its snapshot.
	PutOriginLimits(ctx context.Context, origin string, l quota.Limits, at time.Time) error
	// PutOriginSnapshot inserts or changes an origin's snapshot, keeping its limits.
	PutOriginSnapshot(ctx context.Context, origin string, s quota.Snapshot, at time.Time) error
}

var _ OriginStore = (*SQLite)(nil)

// Origins returns every origin, ordered by key.
func (s *SQLite) Origins(ctx context.Context) ([]Origin, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT origin, max_conns, max_rate, max_bytes, window_ms,
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
func (s *SQLite) PutOriginLimits(ctx context.Context, origin string, l quota.Limits, at time.Time) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO origins (origin, max_conns, max_rate, max_bytes, window_ms, updated_at)
		VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (origin) DO UPDATE SET max_conns = excluded.max_conns, max_rate = excluded.max_rate,
			max_bytes = excluded.max_bytes, window_ms = excluded.window_ms, updated_at = excluded.updated_at`,
		origin, l.MaxConns, l.MaxRate, l.MaxBytes, l.Window.Milliseconds(), toMs(at))
	if err != nil {
		return fmt.Errorf("store origin %s: %w", origin, err)
	}
	return s.markHeld()
}

// PutOriginSnapshot inserts or changes an origin's snapshot, keeping its limits.
func (s *SQLite) PutOriginSnapshot(ctx context.Context, origin string, snap quota.Snapshot, at time.Time) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO origins (origin, window_start, spent, factor, updated_at)
		VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (origin) DO UPDATE SET window_start = excluded.window_start, spent = excluded.spent,
			factor = excluded.factor, updated_at = excluded.updated_at`,
		origin, toMs(snap.WindowStart), snap.Spent, snap.Factor, toMs(at))
	if err != nil {
		return fmt.Errorf("store spent bytes of origin %s: %w", origin, err)
	}
	return s.markHeld()
}
