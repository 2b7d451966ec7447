package store

import (
	"context"
	"fmt"
	"time"

	"dist/core/api"
)

// Lifecycle is what the controller keeps to run a distribution's life beyond its assignments: a
// deadline, a priority, and assignments added or ended after creation (hosts that join late,
// relays that replace failed ones).
type Lifecycle interface {
	// SetLifecycle stores the distribution's deadline (zero: none) and priority. ErrNotFound if unknown.
	SetLifecycle(ctx context.Context, id string, deadline time.Time, priority int) error
	// Lifecycles answers the deadline and priority of every distribution by id (those never set
	// have zero values and may be missing).
	Lifecycles(ctx context.Context) (map[string]DistLifecycle, error)
	// AddAssignments adds assignments to an existing distribution; those whose id exists already
	// are left as they are. Answers the ids added. ErrNotFound if the distribution is unknown.
	AddAssignments(ctx context.Context, distID string, as []api.Assignment) ([]string, error)
	// EndAssignment sets an assignment's state and error unless it is already done, failed or
	// cancelled (a seeding relay that went away can still be ended). Answers whether it changed.
	EndAssignment(ctx context.Context, id string, state api.TaskState, errMsg string, at time.Time) (bool, error)
	// ReplaceRelay, in one transaction, fails the relay assignment of lost (unless done, failed or
	// cancelled), adds a pending relay assignment for next, and appends ev: a crash leaves all
	// three or none, so a relay is never replaced twice.
	ReplaceRelay(ctx context.Context, distID, lost, reason, next string, at time.Time, ev Event) error
	// ReopenAssignment, in one transaction, sets a failed assignment back to pending with no error
	// (its host gets the task again) and appends ev. Answers false, appending nothing, when the
	// assignment is not failed.
	ReopenAssignment(ctx context.Context, id string, at time.Time, ev Event) (bool, error)
}

// DistLifecycle is a distribution's deadline and priority.
type DistLifecycle struct {
	Deadline time.Time
	Priority int
}

var _ Lifecycle = (*SQLite)(nil)

// SetLifecycle stores the deadline and priority.
func (s *SQLite) SetLifecycle(ctx context.Context, id string, deadline time.Time, priority int) error {
	err := mustAffect(s.w.ExecContext(ctx, `UPDATE distributions SET deadline = ?, priority = ? WHERE id = ?`,
		toMs(deadline), priority, id))
	if err != nil {
		return fmt.Errorf("set lifecycle of distribution %s: %w", id, err)
	}
	return nil
}

// Lifecycles answers deadline and priority by distribution id.
func (s *SQLite) Lifecycles(ctx context.Context) (map[string]DistLifecycle, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, deadline, priority FROM distributions
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
func (s *SQLite) AddAssignments(ctx context.Context, distID string, as []api.Assignment) ([]string, error) {
	added, err := s.addAssignments(ctx, distID, as)
	if err != nil {
		return nil, fmt.Errorf("add assignments to distribution %s: %w", distID, err)
	}
	return added, nil
}

func (s *SQLite) addAssignments(ctx context.Context, distID string, as []api.Assignment) ([]string, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	var one int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM distributions WHERE id = ?`, distID).Scan(&one); err != nil {
		return nil, err
	}
	if one == 0 {
		return nil, ErrNotFound
	}
	ins, err := tx.PrepareContext(ctx, `INSERT INTO assignments (id, dist_id, host, role, state, updated_at)
		VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`)
	if err != nil {
		return nil, err
	}
	defer ins.Close()
	var added []string
	for _, a := range as {
		if !a.Role.Assignable() {
			return nil, fmt.Errorf("assignment of %s: unknown role %q", a.Host, a.Role)
		}
		id := api.AssignmentID(distID, a.Host, a.Role)
		state := a.State
		if state == "" {
			state = api.TaskPending
		}
		res, err := ins.ExecContext(ctx, id, distID, a.Host, a.Role, state, toMs(a.UpdatedAt))
		if err != nil {
			return nil, fmt.Errorf("assignment %s: %w", id, err)
		}
		if n, err := res.RowsAffected(); err == nil && n > 0 {
			added = append(added, id)
		}
	}
	return added, tx.Commit()
}

// EndAssignment moves an unfinished assignment to state with errMsg.
func (s *SQLite) EndAssignment(ctx context.Context, id string, state api.TaskState, errMsg string, at time.Time) (bool, error) {
	res, err := s.w.ExecContext(ctx, `UPDATE assignments SET state = ?, error = ?, updated_at = ?
		WHERE id = ? AND state NOT IN ('done', 'failed', 'cancelled')`, state, errMsg, toMs(at), id)
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
func (s *SQLite) ReplaceRelay(ctx context.Context, distID, lost, reason, next string, at time.Time, ev Event) error {
	if err := s.replaceRelay(ctx, distID, lost, reason, next, at, ev); err != nil {
		return fmt.Errorf("replace relay %s of distribution %s: %w", lost, distID, err)
	}
	return nil
}

func (s *SQLite) replaceRelay(ctx context.Context, distID, lost, reason, next string, at time.Time, ev Event) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	_, err = tx.ExecContext(ctx, `UPDATE assignments SET state = 'failed', error = ?, updated_at = ?
		WHERE id = ? AND state NOT IN ('done', 'failed', 'cancelled')`,
		reason, toMs(at), api.AssignmentID(distID, lost, api.RoleRelay))
	if err != nil {
		return err
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO assignments (id, dist_id, host, role, state, updated_at)
		SELECT ?, ?, ?, 'relay', 'pending', ? WHERE EXISTS (SELECT 1 FROM distributions WHERE id = ?)
		ON CONFLICT (id) DO NOTHING`,
		api.AssignmentID(distID, next, api.RoleRelay), distID, next, toMs(at), distID)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return fmt.Errorf("relay %s: %w or already a relay", next, ErrNotFound)
	}
	if ev.At.IsZero() {
		ev.At = at
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO events (at, dist_id, host, kind, msg) VALUES (?, ?, ?, ?, ?)`,
		toMs(ev.At), ev.DistID, ev.Host, ev.Kind, ev.Msg); err != nil {
		return err
	}
	return tx.Commit()
}

// ReopenAssignment sets a failed assignment back to pending and appends ev, in one transaction.
func (s *SQLite) ReopenAssignment(ctx context.Context, id string, at time.Time, ev Event) (bool, error) {
	ok, err := s.reopenAssignment(ctx, id, at, ev)
	if err != nil {
		return false, fmt.Errorf("reopen assignment %s: %w", id, err)
	}
	return ok, nil
}

func (s *SQLite) reopenAssignment(ctx context.Context, id string, at time.Time, ev Event) (bool, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `UPDATE assignments SET state = 'pending', error = '', updated_at = ?
		WHERE id = ? AND state = 'failed'`, toMs(at), id)
	if err != nil {
		return false, err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return false, err
	}
	if ev.At.IsZero() {
		ev.At = at
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO events (at, dist_id, host, kind, msg) VALUES (?, ?, ?, ?, ?)`,
		toMs(ev.At), ev.DistID, ev.Host, ev.Kind, ev.Msg); err != nil {
		return false, err
	}
	return true, tx.Commit()
}
