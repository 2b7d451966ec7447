package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

var _ OriginStateStore = (*Postgres)(nil)

const pgOriginCols = `origin, max_conns, max_rate, max_bytes, window_ms, window_start, spent, factor, updated_at, state`

// UpdateOrigin runs fn on the origin's row under its row lock (SELECT … FOR UPDATE), in one
// transaction with the write of what fn changed.
func (p *Postgres) UpdateOrigin(ctx context.Context, origin string, at time.Time, fn func(st *OriginState) (bool, error)) error {
	var fnErr error
	err := p.inTx(ctx, nil, func(tx *sql.Tx) error {
		fnErr = nil
		st, err := lockOrigin(ctx, tx, origin)
		if err != nil {
			return err
		}
		write, err := fn(st)
		if err != nil {
			fnErr = err
			return err
		}
		if !write {
			// Rolled back: a row inserted only to be locked goes too.
			return errNoWrite
		}
		l, s := st.Limits, st.Snapshot
		_, err = tx.ExecContext(ctx, `UPDATE origins SET max_conns = $2, max_rate = $3, max_bytes = $4,
			window_ms = $5, window_start = $6, spent = $7, factor = $8, updated_at = $9, state = $10 WHERE origin = $1`,
			origin, l.MaxConns, l.MaxRate, l.MaxBytes, l.Window.Milliseconds(), toMs(s.WindowStart), s.Spent, s.Factor,
			toMs(at), string(st.State))
		return err
	})
	switch {
	case errors.Is(err, errNoWrite):
		return nil
	case fnErr != nil && errors.Is(err, fnErr):
		return fnErr
	case err != nil:
		return fmt.Errorf("update origin %s: %w", origin, err)
	}
	return nil
}

// errNoWrite ends a transaction whose fn changed nothing.
var errNoWrite = errors.New("nothing to write")

// lockOrigin reads the origin's row locked for update, inserting an empty one first when there is
// none (ON CONFLICT: a concurrent insert of the same origin waits for ours, then finds the row).
func lockOrigin(ctx context.Context, tx *sql.Tx, origin string) (*OriginState, error) {
	sel := `SELECT ` + pgOriginCols + ` FROM origins WHERE origin = $1 FOR UPDATE`
	st, err := scanOriginState(tx.QueryRowContext(ctx, sel, origin))
	if !errors.Is(err, sql.ErrNoRows) {
		return st, err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO origins (origin) VALUES ($1) ON CONFLICT (origin) DO NOTHING`, origin); err != nil {
		return nil, err
	}
	return scanOriginState(tx.QueryRowContext(ctx, sel, origin))
}

type rowScanner interface{ Scan(dest ...any) error }

func scanOriginState(r rowScanner) (*OriginState, error) {
	var (
		o                      OriginState
		window, start, updated int64
		state                  string
	)
	if err := r.Scan(&o.Origin.Origin, &o.Limits.MaxConns, &o.Limits.MaxRate, &o.Limits.MaxBytes, &window,
		&start, &o.Snapshot.Spent, &o.Snapshot.Factor, &updated, &state); err != nil {
		return nil, err
	}
	o.Limits.Window = time.Duration(window) * time.Millisecond
	o.Snapshot.WindowStart = fromMs(start)
	o.UpdatedAt = fromMs(updated)
	if state != "" {
		o.State = []byte(state)
	}
	return &o, nil
}

// OriginStates returns every origin with its state, ordered by key.
func (p *Postgres) OriginStates(ctx context.Context) ([]OriginState, error) {
	rows, err := p.db.QueryContext(ctx, `SELECT `+pgOriginCols+` FROM origins ORDER BY origin`)
	if err != nil {
		return nil, fmt.Errorf("list origin states: %w", err)
	}
	defer rows.Close()
	var out []OriginState
	for rows.Next() {
		st, err := scanOriginState(rows)
		if err != nil {
			return nil, fmt.Errorf("list origin states: %w", err)
		}
		out = append(out, *st)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list origin states: %w", err)
	}
	return out, nil
}
