package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// Bus carries short messages between the controllers that share one database, so that a change
// made through one of them (a report, a push, a host that registers) reaches the memory of the
// others and wakes the watches they hold. Only a shared store has one: a controller alone on
// SQLite needs none.
type Bus interface {
	// Publish sends messages, in order, to every listener (the sender's own included). Each is at
	// most MaxBusMessage bytes.
	Publish(ctx context.Context, msgs []string) error
	// Listen calls fn with each message, in the order sent, until ctx ends. It calls resync after
	// every (re)connection, before the first message: what was sent while it was away is lost,
	// so the listener must read again what it keeps. It answers only when ctx ends.
	Listen(ctx context.Context, fn func(msg string), resync func())
	// Lead calls fn while this process holds the leadership named by key (one process per
	// database at a time), and answers when ctx ends. fn's context ends when the leadership is
	// lost (its connection broke); another process takes it over within about retry.
	Lead(ctx context.Context, key int64, retry time.Duration, fn func(ctx context.Context))
}

// MaxBusMessage is the longest message a Bus carries (PostgreSQL's NOTIFY payload is < 8000 bytes).
const MaxBusMessage = 7900

// busChannel is the NOTIFY channel of dist's controllers.
const busChannel = "dist_bus"

var _ Bus = (*Postgres)(nil)

// Publish sends msgs with NOTIFY, in one transaction: PostgreSQL delivers the notifications of a
// transaction in order, and transactions in commit order.
func (p *Postgres) Publish(ctx context.Context, msgs []string) error {
	if len(msgs) == 0 {
		return nil
	}
	tx, err := p.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("publish to other controllers: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it does nothing
	for _, m := range msgs {
		if len(m) > MaxBusMessage {
			return fmt.Errorf("publish to other controllers: message of %d bytes is longer than %d", len(m), MaxBusMessage)
		}
		if _, err := tx.ExecContext(ctx, `SELECT pg_notify($1, $2)`, busChannel, m); err != nil {
			return fmt.Errorf("publish to other controllers: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("publish to other controllers: %w", err)
	}
	return nil
}

// busBackoff bounds the wait before a broken LISTEN or leadership connection is opened again.
const (
	busBackoffMin = 250 * time.Millisecond
	busBackoffMax = 5 * time.Second
)

// Listen holds one connection of the pool for LISTEN and reads notifications from it.
func (p *Postgres) Listen(ctx context.Context, fn func(msg string), resync func()) {
	wait := busBackoffMin
	for ctx.Err() == nil {
		err := p.withRaw(ctx, func(c *pgx.Conn) error {
			if _, err := c.Exec(ctx, "LISTEN "+busChannel); err != nil {
				return err
			}
			wait = busBackoffMin
			resync()
			for {
				n, err := c.WaitForNotification(ctx)
				if err != nil {
					return err
				}
				fn(n.Payload)
			}
		})
		if ctx.Err() != nil {
			return
		}
		_ = err // the connection broke: open another after a pause, then resync
		if !sleepCtx(ctx, wait) {
			return
		}
		wait = min(2*wait, busBackoffMax)
	}
}

// Lead takes a session-level advisory lock on a connection of its own and holds it while fn runs.
func (p *Postgres) Lead(ctx context.Context, key int64, retry time.Duration, fn func(ctx context.Context)) {
	for ctx.Err() == nil {
		_ = p.withRaw(ctx, func(c *pgx.Conn) error {
			var got bool
			if err := c.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, key).Scan(&got); err != nil {
				return err
			}
			if !got {
				return nil // held by another controller: the connection goes back to the pool
			}
			lctx, cancel := context.WithCancel(ctx)
			defer cancel()
			done := make(chan struct{})
			go func() {
				defer close(done)
				fn(lctx)
			}()
			// The lock lives as long as the session: look at the connection now and then, and
			// end fn when it broke (another controller may hold the lock by then).
			t := time.NewTicker(retry)
			defer t.Stop()
			for {
				select {
				case <-done:
					_, _ = c.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, key)
					return nil
				case <-t.C:
					if err := c.Ping(ctx); err != nil {
						cancel()
						<-done
						return err
					}
				}
			}
		})
		if !sleepCtx(ctx, retry) {
			return
		}
	}
}

// withRaw runs fn on one connection taken out of the pool for as long as fn runs. A connection
// that fn left broken is closed rather than given back.
func (p *Postgres) withRaw(ctx context.Context, fn func(c *pgx.Conn) error) error {
	conn, err := p.db.Conn(ctx)
	if err != nil {
		return err
	}
	var ferr error
	err = conn.Raw(func(dc any) error {
		sc, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("driver connection is a %T, not pgx's", dc)
		}
		ferr = fn(sc.Conn())
		if ferr != nil && !sc.Conn().IsClosed() {
			// LISTEN and advisory locks belong to the session: never hand it to someone else.
			_ = sc.Conn().Close(context.WithoutCancel(ctx))
		}
		return ferr
	})
	if ferr != nil {
		err = ferr
	}
	if cerr := conn.Close(); cerr != nil && !errors.Is(cerr, sql.ErrConnDone) && err == nil {
		err = cerr
	}
	return err
}

// sleepCtx waits d or until ctx ends; false when ctx ended.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
