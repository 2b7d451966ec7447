package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"dist/core/api"
)

// Postgres is the Store of several controllers sharing one PostgreSQL database. It goes through
// pgx's database/sql driver: the rows scan with the same helpers as SQLite's, and pgx caches each
// connection's prepared statements itself (QueryExecModeCacheStatement), so nothing here keeps
// statements by hand.
//
// The semantics are SQLite's, method by method. Where SQLite gets them from having one writer at a
// time, this code takes row locks in a fixed order and retries a transaction that PostgreSQL
// aborted for a deadlock or a serialization failure.
type Postgres struct {
	db   *sql.DB
	name string // the URL without password, for messages
}

var (
	_ Store       = (*Postgres)(nil)
	_ OriginStore = (*Postgres)(nil)
	_ TrustStore  = (*Postgres)(nil)
)

//go:embed migrations/postgres/*.sql
var pgMigrationFS embed.FS

// pgMigrateLock is the advisory lock key that serialises migrations of one database: controllers
// starting at once migrate one after the other, and the later ones find nothing left to do.
const pgMigrateLock int64 = 0x6469_7374_6d69_6772 // "distmigr"

// pgMaxConns bounds the pool of one controller: enough for reads beside the report batches,
// few enough that several controllers fit PostgreSQL's default of 100 connections.
const pgMaxConns = 16

// OpenPostgres connects to the database at url (a libpq URL or keyword string; a password comes
// from PGPASSWORD or PGPASSFILE when the URL holds none) and brings its schema up to date.
func OpenPostgres(ctx context.Context, url string) (*Postgres, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		// pgx's message quotes the URL with its password masked.
		return nil, fmt.Errorf("open store: %w", err)
	}
	name := pgName(cfg)
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(pgMaxConns)
	db.SetMaxIdleConns(pgMaxConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", name, err)
	}
	// Longer: a migration may wait for another controller's, or rewrite a big table.
	mctx, mcancel := context.WithTimeout(ctx, 5*time.Minute)
	defer mcancel()
	if err := pgMigrate(mctx, db); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", name, err)
	}
	return &Postgres{db: db, name: name}, nil
}

// pgName names the database for messages: user@host:port/database, never the password.
func pgName(cfg *pgx.ConnConfig) string {
	return fmt.Sprintf("postgres://%s@%s:%d/%s", cfg.User, cfg.Host, cfg.Port, cfg.Database)
}

// pgMigrations returns the embedded PostgreSQL migrations, numbered as the SQLite ones.
func pgMigrations() ([]migration, error) { return loadMigrations(pgMigrationFS, "migrations/postgres") }

// pgMigrate applies the migrations newer than dist_schema.version in one transaction (PostgreSQL's
// DDL is transactional: a failed migration leaves the schema as it was) under the advisory lock.
func pgMigrate(ctx context.Context, db *sql.DB) error {
	ms, err := pgMigrations()
	if err != nil {
		return err
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer tx.Rollback()
	// The lock comes first: two concurrent CREATE TABLE IF NOT EXISTS can both fail otherwise.
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, pgMigrateLock); err != nil {
		return fmt.Errorf("migrate: take the migration lock: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS dist_schema (version BIGINT NOT NULL)`); err != nil {
		return fmt.Errorf("migrate: schema version table: %w", err)
	}
	var cur int
	err = tx.QueryRowContext(ctx, `SELECT version FROM dist_schema`).Scan(&cur)
	if errors.Is(err, sql.ErrNoRows) {
		_, err = tx.ExecContext(ctx, `INSERT INTO dist_schema (version) VALUES (0)`)
	}
	if err != nil {
		return fmt.Errorf("migrate: read schema version: %w", err)
	}
	if cur > len(ms) {
		return fmt.Errorf("migrate: schema version %d is newer than this program's %d", cur, len(ms))
	}
	if cur == len(ms) {
		return nil
	}
	for _, m := range ms[cur:] {
		// No arguments: pgx sends it with the simple protocol, which runs several statements.
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			return fmt.Errorf("migrate: postgres/%s: %w", m.name, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE dist_schema SET version = $1`, len(ms)); err != nil {
		return fmt.Errorf("migrate: set schema version: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// Close closes the pool.
func (p *Postgres) Close() error { return p.db.Close() }

// String names the database without its password.
func (p *Postgres) String() string { return p.name }

// pgTxAttempts bounds the retries of a transaction aborted by a deadlock or serialization failure.
const pgTxAttempts = 5

// inTx runs fn in a transaction and commits, running it again when PostgreSQL aborted it for a
// deadlock or a serialization failure (fn must start from scratch each time).
func (p *Postgres) inTx(ctx context.Context, opts *sql.TxOptions, fn func(tx *sql.Tx) error) error {
	var err error
	for range pgTxAttempts {
		err = p.tryTx(ctx, opts, fn)
		if err == nil || !pgRetryable(err) || ctx.Err() != nil {
			return err
		}
	}
	return err
}

func (p *Postgres) tryTx(ctx context.Context, opts *sql.TxOptions, fn func(tx *sql.Tx) error) error {
	tx, err := p.db.BeginTx(ctx, opts)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// inPgxTx is inTx on the connection's own pgx interface, for pgx batches: statements queued in a
// batch travel in one round trip and run in order, where database/sql waits for each answer.
func (p *Postgres) inPgxTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	var err error
	for range pgTxAttempts {
		err = p.tryPgxTx(ctx, fn)
		if err == nil || !pgRetryable(err) || ctx.Err() != nil {
			return err
		}
	}
	return err
}

func (p *Postgres) tryPgxTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	conn, err := p.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		tx, err := dc.(*stdlib.Conn).Conn().Begin(ctx)
		if err != nil {
			return err
		}
		defer tx.Rollback(ctx)
		if err := fn(tx); err != nil {
			return err
		}
		return tx.Commit(ctx)
	})
}

// execBatch sends b and answers the index of the first statement that failed, with its error
// (-1, nil when all succeeded); the statements after a failed one fail too, unrun.
func execBatch(ctx context.Context, tx pgx.Tx, b *pgx.Batch) (int, error) {
	if b.Len() == 0 {
		return -1, nil
	}
	br := tx.SendBatch(ctx, b)
	for i := range b.Len() {
		if _, err := br.Exec(); err != nil {
			br.Close()
			return i, err
		}
	}
	return -1, br.Close()
}

func pgCode(err error) string {
	var e *pgconn.PgError
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// pgRetryable: serialization_failure, deadlock_detected.
func pgRetryable(err error) bool {
	c := pgCode(err)
	return c == "40001" || c == "40P01"
}

// pgDuplicate: unique_violation (primary keys included).
func pgDuplicate(err error) bool { return pgCode(err) == "23505" }

// pgLimit turns "limit <= 0 means all" into LIMIT NULL, PostgreSQL's no limit.
func pgLimit(limit int) any {
	if limit <= 0 {
		return nil
	}
	return limit
}

// Hosts.

// pgHostUpsert inserts or updates a host by name.
const pgHostUpsert = `INSERT INTO hosts (` + hostCols + `) VALUES ($1, $2, $3, $4, $5, $6, $7)
	ON CONFLICT (name) DO UPDATE SET labels = excluded.labels, roles = excluded.roles,
		http_url = excluded.http_url, bt_addr = excluded.bt_addr, version = excluded.version,
		last_seen = excluded.last_seen`

// UpsertHost inserts or updates a host by name.
func (p *Postgres) UpsertHost(ctx context.Context, h api.Host) error {
	if h.Name == "" {
		return errors.New("upsert host: empty name")
	}
	_, err := p.db.ExecContext(ctx, pgHostUpsert, hostArgs(h)...)
	if err != nil {
		return fmt.Errorf("upsert host %s: %w", h.Name, err)
	}
	return nil
}

// UpsertHosts upserts hs in one transaction, in one round trip.
func (p *Postgres) UpsertHosts(ctx context.Context, hs []api.Host) error {
	if len(hs) == 0 {
		return nil
	}
	if err := checkHostNames(hs); err != nil {
		return err
	}
	err := p.inPgxTx(ctx, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		for _, h := range hs {
			b.Queue(pgHostUpsert, hostArgs(h)...)
		}
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return fmt.Errorf("upsert %d hosts: %w", len(hs), err)
	}
	return nil
}

// TouchHost sets a host's last_seen.
func (p *Postgres) TouchHost(ctx context.Context, name string, at time.Time) error {
	err := mustAffect(p.db.ExecContext(ctx, `UPDATE hosts SET last_seen = $1 WHERE name = $2`, toMs(at), name))
	if err != nil {
		return fmt.Errorf("touch host %s: %w", name, err)
	}
	return nil
}

// TouchHosts sets the last_seen of many hosts in one statement. The names go in sorted, so that
// two batches lock their rows in the same order.
func (p *Postgres) TouchHosts(ctx context.Context, seen map[string]time.Time) error {
	if len(seen) == 0 {
		return nil
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	slices.Sort(names)
	ats := make([]int64, len(names))
	for i, n := range names {
		ats[i] = toMs(seen[n])
	}
	err := p.inTx(ctx, nil, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE hosts AS h SET last_seen = v.at
			FROM unnest($1::text[], $2::bigint[]) AS v (name, at)
			WHERE h.name = v.name AND h.last_seen < v.at`, names, ats)
		return err
	})
	if err != nil {
		return fmt.Errorf("touch %d hosts: %w", len(seen), err)
	}
	return nil
}

// Host returns one host.
func (p *Postgres) Host(ctx context.Context, name string) (api.Host, error) {
	h, err := scanHost(p.db.QueryRowContext(ctx, `SELECT `+hostCols+` FROM hosts WHERE name = $1`, name))
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return api.Host{}, fmt.Errorf("host %s: %w", name, err)
	}
	return h, nil
}

// Hosts returns every host ordered by name.
func (p *Postgres) Hosts(ctx context.Context) ([]api.Host, error) {
	rows, err := p.db.QueryContext(ctx, `SELECT `+hostCols+` FROM hosts ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("hosts: %w", err)
	}
	defer rows.Close()
	var hs []api.Host
	for rows.Next() {
		h, err := scanHost(rows)
		if err != nil {
			return nil, fmt.Errorf("hosts: %w", err)
		}
		hs = append(hs, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("hosts: %w", err)
	}
	return hs, nil
}

// Distributions.

// pgDistAggSelect is distAggSelect in PostgreSQL: counts with FILTER, sums cast back from numeric.
const pgDistAggSelect = `SELECT ` + distCols + `,
	COUNT(a.id),
	COUNT(a.id) FILTER (WHERE a.state IN ('done', 'seeding')),
	COUNT(a.id) FILTER (WHERE a.state = 'failed'),
	COALESCE(SUM(a.have), 0)::bigint,
	COALESCE(SUM(a.bytes_bt), 0)::bigint,
	COALESCE(SUM(a.bytes_http_relay), 0)::bigint,
	COALESCE(SUM(a.bytes_http_origin), 0)::bigint
FROM distributions d
LEFT JOIN assignments a ON a.dist_id = d.id AND a.role = 'client'`

// CreateDistribution writes the distribution, its metainfo and its assignments in one transaction.
func (p *Postgres) CreateDistribution(ctx context.Context, d api.Distribution, metainfo []byte, as []api.Assignment) error {
	if err := p.createDistribution(ctx, d, metainfo, as); err != nil {
		return fmt.Errorf("create distribution %s: %w", d.ID, err)
	}
	return nil
}

func (p *Postgres) createDistribution(ctx context.Context, d api.Distribution, metainfo []byte, as []api.Assignment) error {
	if d.ID == "" {
		return errors.New("empty id")
	}
	if d.State == "" {
		d.State = api.DistPending
	}
	// Assignments are checked in order and queued up to the first bad one: as in SQLite, the error
	// answered is that of the first assignment that fails, by a check or by its insert.
	var (
		ids    []string
		badErr error
		b      = &pgx.Batch{}
	)
	b.Queue(`INSERT INTO distributions (id, name, source, size, piece_length,
		info_hash, sha256, dest, publisher, state, selectors, metainfo, created_at, ended_at, settings,
		deadline, priority, base)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)`,
		d.ID, d.Name, d.Source, d.Size, d.PieceLength, d.InfoHash, d.SHA256, d.Dest, d.Publisher,
		string(d.State), jsonList(d.Selectors), metainfo, toMs(d.CreatedAt), toMs(d.EndedAt), jsonSettings(d.Settings),
		toMs(d.Deadline), d.Priority, d.Base)
	for _, a := range as {
		if a.DistID != "" && a.DistID != d.ID {
			badErr = fmt.Errorf("assignment %s belongs to distribution %s", a.ID, a.DistID)
			break
		}
		if !a.Role.Assignable() {
			badErr = fmt.Errorf("assignment %s: unknown role %q", a.ID, a.Role)
			break
		}
		if a.ID == "" {
			a.ID = api.AssignmentID(d.ID, a.Host, a.Role)
		}
		if a.State == "" {
			a.State = api.TaskPending
		}
		ids = append(ids, a.ID)
		b.Queue(`INSERT INTO assignments (id, dist_id, host, role, state,
			have, bytes_bt, bytes_http_relay, bytes_http_origin, bytes_up, peers, error,
			first_byte_at, done_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
			a.ID, d.ID, a.Host, string(a.Role), string(a.State),
			a.Have, a.BytesBT, a.BytesHTTPRelay, a.BytesHTTPOrigin, a.BytesUp, a.Peers, a.Error,
			toMs(a.FirstByteAt), toMs(a.DoneAt), toMs(a.UpdatedAt))
	}
	return p.inPgxTx(ctx, func(tx pgx.Tx) error {
		i, err := execBatch(ctx, tx, b)
		switch {
		case i == 0 && pgDuplicate(err):
			return ErrExists
		case i == 0:
			return err
		case i > 0 && pgDuplicate(err):
			return fmt.Errorf("assignment %s: %w", ids[i-1], ErrExists)
		case i > 0:
			return fmt.Errorf("assignment %s: %w", ids[i-1], err)
		case err != nil:
			return err
		}
		return badErr // nil, or the check that stopped the queue: nothing is committed
	})
}

// Distributions returns every distribution, newest first, with aggregates.
func (p *Postgres) Distributions(ctx context.Context) ([]api.Distribution, error) {
	rows, err := p.db.QueryContext(ctx, pgDistAggSelect+` GROUP BY d.id ORDER BY d.created_at DESC, d.id DESC`)
	if err != nil {
		return nil, fmt.Errorf("distributions: %w", err)
	}
	defer rows.Close()
	var ds []api.Distribution
	for rows.Next() {
		d, err := scanDistAgg(rows)
		if err != nil {
			return nil, fmt.Errorf("distributions: %w", err)
		}
		ds = append(ds, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("distributions: %w", err)
	}
	return ds, nil
}

// DistributionHeads returns every distribution without aggregates, newest first.
func (p *Postgres) DistributionHeads(ctx context.Context) ([]api.Distribution, error) {
	return distributionHeads(ctx, p.db)
}

// Distribution returns one distribution with aggregates, assignments and metainfo.
func (p *Postgres) Distribution(ctx context.Context, id string) (api.Distribution, error) {
	var d api.Distribution
	// Repeatable read: one snapshot for the three reads, as SQLite's read transaction gives.
	err := p.inTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true}, func(tx *sql.Tx) error {
		var err error
		d, err = scanDistAgg(tx.QueryRowContext(ctx, pgDistAggSelect+` WHERE d.id = $1 GROUP BY d.id`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, `SELECT metainfo FROM distributions WHERE id = $1`, id).Scan(&d.Metainfo); err != nil {
			return err
		}
		d.Assignments, err = pgAssignments(ctx, tx, id)
		return err
	})
	if err != nil {
		return api.Distribution{}, fmt.Errorf("distribution %s: %w", id, err)
	}
	return d, nil
}

// SetMetainfo stores the metainfo and the fields derived from it.
func (p *Postgres) SetMetainfo(ctx context.Context, id string, metainfo []byte, infoHash string, pieceLen int64) error {
	err := mustAffect(p.db.ExecContext(ctx,
		`UPDATE distributions SET metainfo = $1, info_hash = $2, piece_length = $3 WHERE id = $4`,
		metainfo, infoHash, pieceLen, id))
	if err != nil {
		return fmt.Errorf("set metainfo of distribution %s: %w", id, err)
	}
	return nil
}

// SetDistributionState sets state, and ended_at when ended is not zero. ErrNotFound if unknown.
func (p *Postgres) SetDistributionState(ctx context.Context, id string, state api.DistState, ended time.Time) error {
	err := mustAffect(p.db.ExecContext(ctx,
		`UPDATE distributions SET state = $1, ended_at = CASE WHEN $2::bigint = 0 THEN ended_at ELSE $2::bigint END
		WHERE id = $3`, state, toMs(ended), id))
	if err != nil {
		return fmt.Errorf("set state of distribution %s: %w", id, err)
	}
	return nil
}

// Assignments.

func pgAssignments(ctx context.Context, q querier, distID string) ([]api.Assignment, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+assignCols+` FROM assignments a
		WHERE a.dist_id = $1 ORDER BY a.role <> 'relay', a.host, a.id`, distID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var as []api.Assignment
	for rows.Next() {
		var r assignRow
		if err := rows.Scan(r.dest()...); err != nil {
			return nil, err
		}
		as = append(as, r.value())
	}
	return as, rows.Err()
}

// Assignment returns one assignment by id.
func (p *Postgres) Assignment(ctx context.Context, id string) (api.Assignment, error) {
	var r assignRow
	err := p.db.QueryRowContext(ctx, `SELECT `+assignCols+` FROM assignments a WHERE a.id = $1`, id).Scan(r.dest()...)
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return api.Assignment{}, fmt.Errorf("assignment %s: %w", id, err)
	}
	return r.value(), nil
}

// Assignments returns every assignment of a distribution, relays first, then clients by host.
func (p *Postgres) Assignments(ctx context.Context, distID string) ([]api.Assignment, error) {
	as, err := pgAssignments(ctx, p.db, distID)
	if err != nil {
		return nil, fmt.Errorf("assignments of distribution %s: %w", distID, err)
	}
	return as, nil
}

// HostTasks returns the host's live assignments with their distributions (metainfo included).
func (p *Postgres) HostTasks(ctx context.Context, host string, now time.Time, keep time.Duration) ([]HostTask, error) {
	return p.hostTasks(ctx, host, now, keep, true)
}

// HostTaskHeads answers the host's live assignments without the metainfo bytes.
func (p *Postgres) HostTaskHeads(ctx context.Context, host string, now time.Time, keep time.Duration) ([]HostTask, error) {
	return p.hostTasks(ctx, host, now, keep, false)
}

func (p *Postgres) hostTasks(ctx context.Context, host string, now time.Time, keep time.Duration, withMeta bool) ([]HostTask, error) {
	meta := `d.metainfo`
	if !withMeta {
		meta = `CASE WHEN octet_length(d.metainfo) > 0 THEN '\x01'::bytea END` // one byte: there is one
	}
	rows, err := p.db.QueryContext(ctx, `SELECT `+assignCols+`, `+distCols+`, `+meta+`
		FROM assignments a JOIN distributions d ON d.id = a.dist_id
		WHERE a.host = $1
			AND (d.state IN ('pending', 'active')
				OR (d.state IN ('complete', 'partial') AND d.ended_at > $2))
		ORDER BY d.created_at, d.id, a.role <> 'relay', a.id`, host, now.Add(-keep).UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("tasks of host %s: %w", host, err)
	}
	return scanHostTasks(rows, host, withMeta)
}

// ApplyReport updates the host's assignments named in r and answers the ids whose state changed.
func (p *Postgres) ApplyReport(ctx context.Context, host string, r []api.TaskReport, now time.Time) ([]string, error) {
	changed, err := p.applyReports(ctx, []HostReport{{Host: host, Tasks: r, At: now}})
	if err != nil {
		return nil, fmt.Errorf("apply report of host %s: %w", host, err)
	}
	return changed, nil
}

// ApplyReports applies many hosts' reports in one transaction.
func (p *Postgres) ApplyReports(ctx context.Context, batch []HostReport) ([]string, error) {
	if len(batch) == 0 {
		return nil, nil
	}
	changed, err := p.applyReports(ctx, batch)
	if err != nil {
		return nil, fmt.Errorf("apply %d reports: %w", len(batch), err)
	}
	return changed, nil
}

// pgReportUpd is qReportUpd in PostgreSQL.
const pgReportUpd = `UPDATE assignments SET state = $1, have = $2, bytes_bt = $3,
	bytes_http_relay = $4, bytes_http_origin = $5, bytes_up = $6, peers = $7, error = $8,
	first_byte_at = CASE WHEN first_byte_at = 0 THEN $9::bigint ELSE first_byte_at END,
	done_at = CASE WHEN done_at = 0 THEN $10::bigint ELSE done_at END,
	updated_at = $11,
	mode = CASE WHEN $12::text = '' THEN mode ELSE $12::text END,
	mode_reason = CASE WHEN $12::text = '' THEN mode_reason ELSE $13::text END,
	mode_at = GREATEST(mode_at, $14::bigint),
	bytes_zero = $16, bytes_kept = $17
	WHERE id = $15`

// applyReports locks every assignment the batch names, in id order (two batches never wait on
// each other in a circle, and a report's read-then-write sees no other controller's write in
// between), then applies each host's report as SQLite's applyReportTx does.
func (p *Postgres) applyReports(ctx context.Context, batch []HostReport) ([]string, error) {
	var ids []string
	for _, b := range batch {
		for _, t := range b.Tasks {
			ids = append(ids, t.ID)
		}
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	type row struct {
		host  string
		state api.TaskState
	}
	var changed []string
	err := p.inPgxTx(ctx, func(tx pgx.Tx) error {
		changed = nil
		cur := make(map[string]row, len(ids))
		rows, err := tx.Query(ctx, `SELECT id, host, state FROM assignments
			WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE`, ids)
		if err != nil {
			return err
		}
		for rows.Next() {
			var id, host, state string
			if err := rows.Scan(&id, &host, &state); err != nil {
				rows.Close()
				return err
			}
			cur[id] = row{host: host, state: api.TaskState(state)}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		// The states are known from the locked rows: the updates go out in one batch, in report
		// order, so a task reported twice ends as its last report says.
		var (
			upd     = &pgx.Batch{}
			updated []string
		)
		for _, b := range batch {
			seen := make(map[string]bool)
			for _, t := range b.Tasks {
				r, ok := cur[t.ID]
				if !ok || r.host != b.Host {
					continue // not this host's, or gone
				}
				old := r.state
				state := t.State
				if state == "" || old.Stopped() && !state.Complete() {
					// As in SQLite: a report that crossed the controller's decision does not undo it.
					state = old
				}
				upd.Queue(pgReportUpd, string(state), t.Have, t.BytesBT, t.BytesHTTPRelay,
					t.BytesHTTPOrigin, t.BytesUp, t.Peers, t.Error, max(t.FirstByteMs, 0), max(t.DoneMs, 0),
					toMs(b.At), t.Mode, t.ModeReason, lastModeMs(t.ModeChanges), t.ID, t.BytesZero, t.BytesKept)
				updated = append(updated, t.ID)
				r.state = state
				cur[t.ID] = r
				if state != old && !seen[t.ID] {
					seen[t.ID] = true
					changed = append(changed, t.ID)
				}
			}
		}
		if i, err := execBatch(ctx, tx, upd); err != nil {
			if i >= 0 {
				return fmt.Errorf("assignment %s: %w", updated[i], err)
			}
			return err
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return changed, nil
}

// Events.

// AddEvent appends an event; a zero At means now.
func (p *Postgres) AddEvent(ctx context.Context, e Event) error {
	if e.At.IsZero() {
		e.At = time.Now()
	}
	if err := pgAddEvent(ctx, p.db, e); err != nil {
		return fmt.Errorf("add event %s: %w", e.Kind, err)
	}
	return nil
}

// AddEvents appends es in one transaction, in one round trip.
func (p *Postgres) AddEvents(ctx context.Context, es []Event) error {
	if len(es) == 0 {
		return nil
	}
	now := time.Now()
	err := p.inPgxTx(ctx, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		for _, e := range es {
			if e.At.IsZero() {
				e.At = now
			}
			b.Queue(pgEventIns, toMs(e.At), e.DistID, e.Host, e.Kind, e.Msg)
		}
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return fmt.Errorf("add %d events: %w", len(es), err)
	}
	return nil
}

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// pgEventIns appends one event.
const pgEventIns = `INSERT INTO events (at, dist_id, host, kind, msg) VALUES ($1, $2, $3, $4, $5)`

func pgAddEvent(ctx context.Context, x execer, e Event) error {
	_, err := x.ExecContext(ctx, pgEventIns,
		toMs(e.At), e.DistID, e.Host, e.Kind, e.Msg)
	return err
}

// Events returns up to limit events (all when limit <= 0), newest first; distID "" means all.
func (p *Postgres) Events(ctx context.Context, distID string, limit int) ([]Event, error) {
	q, args := `SELECT id, at, dist_id, host, kind, msg FROM events ORDER BY id DESC LIMIT $1`, []any{pgLimit(limit)}
	if distID != "" {
		q, args = `SELECT id, at, dist_id, host, kind, msg FROM events WHERE dist_id = $1
			ORDER BY id DESC LIMIT $2`, []any{distID, pgLimit(limit)}
	}
	rows, err := p.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("events: %w", err)
	}
	defer rows.Close()
	var es []Event
	for rows.Next() {
		var (
			e  Event
			at int64
		)
		if err := rows.Scan(&e.ID, &at, &e.DistID, &e.Host, &e.Kind, &e.Msg); err != nil {
			return nil, fmt.Errorf("events: %w", err)
		}
		e.At = fromMs(at)
		es = append(es, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("events: %w", err)
	}
	return es, nil
}
