package store

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"dist/core/api"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// SQLite is the Store of a single controller, kept in one SQLite file.
type SQLite struct {
	db *sql.DB // reads: a few connections beside the writer (WAL)
	// w is every write, on one connection: writers wait for it in Go, handed it the moment the
	// last commit ends, where on several connections they polled the file lock in SQLite's busy
	// handler, sleeping up to 100 ms a try while a fleet's reports queued behind them.
	w    *sql.DB
	path string

	// held is set once the marker beside the database is written (integrity.go).
	held   atomic.Bool
	markMu sync.Mutex

	// stmts are the hot statements, prepared once per connection (stmt): parsing the SQL was
	// most of the cost of the small statements a fleet's reports and watches run. wstmts are
	// those of the write transactions, prepared on w at Open.
	stmtMu sync.Mutex
	stmts  map[string]*sql.Stmt
	wstmts map[string]*sql.Stmt
}

// stmt answers the prepared statement of query, shared by every caller, preparing it on a miss
// (which takes a connection: never call it inside a transaction, see txStmt).
func (s *SQLite) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	s.stmtMu.Lock()
	st := s.stmts[query]
	s.stmtMu.Unlock()
	if st != nil {
		return st, nil
	}
	st, err := s.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	s.stmtMu.Lock()
	defer s.stmtMu.Unlock()
	if old := s.stmts[query]; old != nil {
		_ = st.Close()
		return old, nil
	}
	if s.stmts == nil {
		s.stmts = map[string]*sql.Stmt{}
	}
	s.stmts[query] = st
	return st, nil
}

// txStmt is the prepared statement of query within tx. Only statements prepared at Open
// (hotTxStmts) are shared: preparing one now would need a second connection while tx holds one,
// and with every connection of the pool in a transaction that waits forever.
func (s *SQLite) txStmt(ctx context.Context, tx *sql.Tx, query string) (*sql.Stmt, error) {
	st := s.wstmts[query] // written at Open only
	if st == nil {
		return tx.PrepareContext(ctx, query)
	}
	return tx.StmtContext(ctx, st), nil
}

// The statements of the transactions every report and heartbeat batch runs.
const (
	qReportGet = `SELECT state FROM assignments WHERE id = ? AND host = ?`
	// first_byte_at and done_at are written only while still 0, and a 0 from the report keeps them 0.
	qReportUpd = `UPDATE assignments SET state = ?, have = ?, bytes_bt = ?,
		bytes_http_relay = ?, bytes_http_origin = ?, bytes_zero = ?, bytes_kept = ?, bytes_up = ?, peers = ?, error = ?,
		first_byte_at = CASE WHEN first_byte_at = 0 THEN ? ELSE first_byte_at END,
		done_at = CASE WHEN done_at = 0 THEN ? ELSE done_at END,
		updated_at = ?,
		mode = CASE WHEN ? = '' THEN mode ELSE ? END,
		mode_reason = CASE WHEN ? = '' THEN mode_reason ELSE ? END,
		mode_at = MAX(mode_at, ?)
		WHERE id = ?`
	qTouchSeen = `UPDATE hosts SET last_seen = ? WHERE name = ? AND last_seen < ?`
)

// hotTxStmts are prepared at Open, for txStmt.
var hotTxStmts = []string{qReportGet, qReportUpd, qTouchSeen, qSampleIns, qHostUpsert}

var _ Store = (*SQLite)(nil)

// Open opens (creating if needed) the store at path and brings its schema up to date. It refuses a
// damaged database (PRAGMA quick_check), and a missing or empty one when the marker beside it
// shows it held data (integrity.go); each error says how to restore a backup.
func Open(path string) (*SQLite, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	if err := checkPresent(path); err != nil {
		return nil, err
	}
	db, err := sql.Open("sqlite", dsn(path))
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	// SQLite has one writer at a time: writes go on a connection of their own (w), and a few
	// more let reads run beside it.
	db.SetMaxOpenConns(4)
	db.SetMaxIdleConns(4)
	ctx := context.Background()
	if err := checkIntegrity(ctx, db, path); err != nil {
		db.Close()
		return nil, err
	}
	if err := migrate(ctx, db); err != nil {
		db.Close()
		if corrupt(err) {
			return nil, damaged(path, err.Error())
		}
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	w, err := sql.Open("sqlite", dsn(path))
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	s := &SQLite{db: db, w: w, path: path, wstmts: map[string]*sql.Stmt{}}
	if err := s.checkHeld(ctx); err != nil {
		s.Close()
		return nil, err
	}
	for _, q := range hotTxStmts {
		st, err := w.PrepareContext(ctx, q)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("open store %s: prepare: %w", path, err)
		}
		s.wstmts[q] = st
	}
	return s, nil
}

// dsn builds the connection string. _txlock=immediate makes every write transaction take the
// write lock at BEGIN, so read-then-write transactions wait (busy_timeout) instead of failing BUSY.
func dsn(p string) string {
	// The name is read as a URI: escape what would end the path or be decoded.
	p = strings.NewReplacer("%", "%25", "?", "%3F", "#", "%23").Replace(filepath.ToSlash(p))
	return "file:" + p + "?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)" +
		"&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(ON)&_txlock=immediate"
}

type migration struct {
	name string
	sql  string
}

// migrations returns the embedded migrations; migrations/NNNN_name.sql brings the schema to version NNNN.
func migrations() ([]migration, error) { return loadMigrations(migrationFS, "migrations") }

// loadMigrations reads the numbered migrations in dir of fsys, checking that they count 1, 2, …
// without a gap.
func loadMigrations(fsys fs.FS, dir string) ([]migration, error) {
	names, err := fs.Glob(fsys, dir+"/*.sql") // sorted
	if err != nil {
		return nil, err
	}
	label := strings.TrimPrefix(strings.TrimPrefix(dir, "migrations"), "/")
	if label != "" {
		label += "/"
	}
	ms := make([]migration, 0, len(names))
	for i, n := range names {
		base := path.Base(n)
		num, _, _ := strings.Cut(base, "_")
		if v, err := strconv.Atoi(num); err != nil || v != i+1 {
			return nil, fmt.Errorf("migration %s%s: want version %d", label, base, i+1)
		}
		b, err := fs.ReadFile(fsys, n)
		if err != nil {
			return nil, fmt.Errorf("migration %s%s: %w", label, base, err)
		}
		ms = append(ms, migration{name: base, sql: string(b)})
	}
	return ms, nil
}

// migrate applies the migrations newer than PRAGMA user_version in one transaction, so a failed
// migration leaves the schema as it was and concurrent openers of one file take turns.
func migrate(ctx context.Context, db *sql.DB) error {
	ms, err := migrations()
	if err != nil {
		return err
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer tx.Rollback()
	var cur int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&cur); err != nil {
		return fmt.Errorf("migrate: read schema version: %w", err)
	}
	if cur > len(ms) {
		return fmt.Errorf("migrate: schema version %d is newer than this program's %d", cur, len(ms))
	}
	if cur == len(ms) {
		return nil
	}
	for _, m := range ms[cur:] {
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			return fmt.Errorf("migrate: %s: %w", m.name, err)
		}
	}
	// PRAGMA takes no bound parameters; the value is our own integer.
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", len(ms))); err != nil {
		return fmt.Errorf("migrate: set schema version: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// Close closes the database.
func (s *SQLite) Close() error {
	s.stmtMu.Lock()
	for _, st := range s.stmts {
		_ = st.Close()
	}
	for _, st := range s.wstmts {
		_ = st.Close()
	}
	s.stmts = nil
	s.stmtMu.Unlock()
	werr := s.w.Close()
	return errors.Join(s.db.Close(), werr)
}

// querier is what *sql.DB and *sql.Tx share, so reads can run inside a snapshot or not.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

type scanner interface{ Scan(dest ...any) error }

// toMs and fromMs convert between time.Time and the stored unix milliseconds; 0 is the zero time.
func toMs(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMs(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

// Encoding string maps and slices cannot fail; nil is stored as empty so columns are never null.
func jsonList[T ~string](v []T) string {
	if v == nil {
		return "[]"
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func jsonMap(v map[string]string) string {
	if v == nil {
		return "{}"
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// isDuplicate reports whether err is a primary key or unique constraint violation.
func isDuplicate(err error) bool {
	var e *sqlite.Error
	return errors.As(err, &e) &&
		(e.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY || e.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE)
}

// mustAffect turns an UPDATE that matched no row into ErrNotFound.
func mustAffect(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}

// Hosts.

const hostCols = `name, labels, roles, http_url, bt_addr, version, last_seen`

func scanHost(sc scanner) (api.Host, error) {
	var (
		h             api.Host
		labels, roles string
		seen          int64
	)
	if err := sc.Scan(&h.Name, &labels, &roles, &h.HTTPURL, &h.BTAddr, &h.Version, &seen); err != nil {
		return h, err
	}
	if err := json.Unmarshal([]byte(labels), &h.Labels); err != nil {
		return h, fmt.Errorf("host %s labels: %w", h.Name, err)
	}
	if len(h.Labels) == 0 {
		h.Labels = nil
	}
	if err := json.Unmarshal([]byte(roles), &h.Roles); err != nil {
		return h, fmt.Errorf("host %s roles: %w", h.Name, err)
	}
	h.LastSeen = fromMs(seen)
	return h, nil
}

// qHostUpsert inserts or updates a host by name.
const qHostUpsert = `INSERT INTO hosts (` + hostCols + `) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET labels = excluded.labels, roles = excluded.roles,
			http_url = excluded.http_url, bt_addr = excluded.bt_addr, version = excluded.version,
			last_seen = excluded.last_seen`

// hostArgs are the arguments of a host upsert, in hostCols' order (both dialects).
func hostArgs(h api.Host) []any {
	return []any{h.Name, jsonMap(h.Labels), jsonList(h.Roles), h.HTTPURL, h.BTAddr, h.Version, toMs(h.LastSeen)}
}

// checkHostNames refuses a batch of hosts with a nameless one, before any of them is written.
func checkHostNames(hs []api.Host) error {
	for _, h := range hs {
		if h.Name == "" {
			return errors.New("upsert hosts: empty name")
		}
	}
	return nil
}

// UpsertHost inserts or updates a host by name.
func (s *SQLite) UpsertHost(ctx context.Context, h api.Host) error {
	if h.Name == "" {
		return errors.New("upsert host: empty name")
	}
	_, err := s.w.ExecContext(ctx, qHostUpsert, hostArgs(h)...)
	if err != nil {
		return fmt.Errorf("upsert host %s: %w", h.Name, err)
	}
	return s.markHeld()
}

// UpsertHosts upserts hs in one transaction.
func (s *SQLite) UpsertHosts(ctx context.Context, hs []api.Host) error {
	if len(hs) == 0 {
		return nil
	}
	if err := checkHostNames(hs); err != nil {
		return err
	}
	err := s.writeEach(ctx, qHostUpsert, func(st *sql.Stmt) error {
		for _, h := range hs {
			if _, err := st.ExecContext(ctx, hostArgs(h)...); err != nil {
				return fmt.Errorf("host %s: %w", h.Name, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("upsert %d hosts: %w", len(hs), err)
	}
	return s.markHeld()
}

// writeEach runs fn with the writer's statement for query in one transaction, and commits it
// when fn succeeds: the batched writes of many rows with one statement.
func (s *SQLite) writeEach(ctx context.Context, query string, fn func(st *sql.Stmt) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	st, err := s.txStmt(ctx, tx, query)
	if err != nil {
		return err
	}
	if err := fn(st); err != nil {
		return err
	}
	return tx.Commit()
}

// TouchHost sets a host's last_seen.
func (s *SQLite) TouchHost(ctx context.Context, name string, at time.Time) error {
	err := mustAffect(s.w.ExecContext(ctx, `UPDATE hosts SET last_seen = ? WHERE name = ?`, toMs(at), name))
	if err != nil {
		return fmt.Errorf("touch host %s: %w", name, err)
	}
	return nil
}

// TouchHosts sets the last_seen of many hosts in one transaction.
func (s *SQLite) TouchHosts(ctx context.Context, seen map[string]time.Time) error {
	if len(seen) == 0 {
		return nil
	}
	if err := s.touchHosts(ctx, seen); err != nil {
		return fmt.Errorf("touch %d hosts: %w", len(seen), err)
	}
	return nil
}

func (s *SQLite) touchHosts(ctx context.Context, seen map[string]time.Time) error {
	return s.writeEach(ctx, qTouchSeen, func(upd *sql.Stmt) error {
		for name, at := range seen {
			ms := toMs(at)
			if _, err := upd.ExecContext(ctx, ms, name, ms); err != nil {
				return fmt.Errorf("host %s: %w", name, err)
			}
		}
		return nil
	})
}

// Host returns one host.
func (s *SQLite) Host(ctx context.Context, name string) (api.Host, error) {
	h, err := scanHost(s.db.QueryRowContext(ctx, `SELECT `+hostCols+` FROM hosts WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return api.Host{}, fmt.Errorf("host %s: %w", name, err)
	}
	return h, nil
}

// Hosts returns every host ordered by name.
func (s *SQLite) Hosts(ctx context.Context) ([]api.Host, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+hostCols+` FROM hosts ORDER BY name`)
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

const distCols = `d.id, d.name, d.source, d.size, d.piece_length, d.info_hash, d.sha256, d.dest,
	d.publisher, d.state, d.selectors, d.created_at, d.ended_at, d.settings, d.base`

// distRow scans distCols.
type distRow struct {
	d              api.Distribution
	selectors      string
	created, ended int64
	settings       string
}

func (r *distRow) dest() []any {
	return []any{&r.d.ID, &r.d.Name, &r.d.Source, &r.d.Size, &r.d.PieceLength, &r.d.InfoHash,
		&r.d.SHA256, &r.d.Dest, &r.d.Publisher, &r.d.State, &r.selectors, &r.created, &r.ended, &r.settings, &r.d.Base}
}

func (r *distRow) value() (api.Distribution, error) {
	d := r.d
	if err := json.Unmarshal([]byte(r.selectors), &d.Selectors); err != nil {
		return d, fmt.Errorf("distribution %s selectors: %w", d.ID, err)
	}
	d.CreatedAt, d.EndedAt = fromMs(r.created), fromMs(r.ended)
	if r.settings != "" && r.settings != "{}" {
		d.Settings = new(api.Settings)
		if err := json.Unmarshal([]byte(r.settings), d.Settings); err != nil {
			return d, fmt.Errorf("distribution %s settings: %w", d.ID, err)
		}
	}
	return d, nil
}

// distAggSelect selects distributions with the aggregates over their client assignments. A seeding
// client counts as done: a client seeds only once its file is in place.
const distAggSelect = `SELECT ` + distCols + `,
	COUNT(a.id),
	COALESCE(SUM(a.state IN ('done', 'seeding')), 0),
	COALESCE(SUM(a.state = 'failed'), 0),
	COALESCE(SUM(a.have), 0),
	COALESCE(SUM(a.bytes_bt), 0),
	COALESCE(SUM(a.bytes_http_relay), 0),
	COALESCE(SUM(a.bytes_http_origin), 0)
FROM distributions d
LEFT JOIN assignments a ON a.dist_id = d.id AND a.role = 'client'`

func scanDistAgg(sc scanner) (api.Distribution, error) {
	var r distRow
	dest := append(r.dest(), &r.d.Targets, &r.d.Done, &r.d.Failed, &r.d.Have,
		&r.d.BytesBT, &r.d.BytesHTTPRelay, &r.d.BytesHTTPOrigin)
	if err := sc.Scan(dest...); err != nil {
		return api.Distribution{}, err
	}
	return r.value()
}

// CreateDistribution writes the distribution, its metainfo and its assignments in one transaction.
// An empty distribution state means pending; an assignment's empty id and state default to
// api.AssignmentID and pending.
func (s *SQLite) CreateDistribution(ctx context.Context, d api.Distribution, metainfo []byte, as []api.Assignment) error {
	if err := s.createDistribution(ctx, d, metainfo, as); err != nil {
		return fmt.Errorf("create distribution %s: %w", d.ID, err)
	}
	return s.markHeld()
}

func (s *SQLite) createDistribution(ctx context.Context, d api.Distribution, metainfo []byte, as []api.Assignment) error {
	if d.ID == "" {
		return errors.New("empty id")
	}
	if d.State == "" {
		d.State = api.DistPending
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	_, err = tx.ExecContext(ctx, `INSERT INTO distributions (id, name, source, size, piece_length,
		info_hash, sha256, dest, publisher, state, selectors, metainfo, created_at, ended_at, settings,
		deadline, priority, base)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		d.ID, d.Name, d.Source, d.Size, d.PieceLength, d.InfoHash, d.SHA256, d.Dest, d.Publisher,
		d.State, jsonList(d.Selectors), metainfo, toMs(d.CreatedAt), toMs(d.EndedAt), jsonSettings(d.Settings),
		toMs(d.Deadline), d.Priority, d.Base)
	if isDuplicate(err) {
		return ErrExists
	}
	if err != nil {
		return err
	}
	ins, err := tx.PrepareContext(ctx, `INSERT INTO assignments (id, dist_id, host, role, state,
		have, bytes_bt, bytes_http_relay, bytes_http_origin, bytes_up, peers, error,
		first_byte_at, done_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	defer ins.Close()
	for _, a := range as {
		if a.DistID != "" && a.DistID != d.ID {
			return fmt.Errorf("assignment %s belongs to distribution %s", a.ID, a.DistID)
		}
		if !a.Role.Assignable() {
			return fmt.Errorf("assignment %s: unknown role %q", a.ID, a.Role)
		}
		if a.ID == "" {
			a.ID = api.AssignmentID(d.ID, a.Host, a.Role)
		}
		if a.State == "" {
			a.State = api.TaskPending
		}
		_, err := ins.ExecContext(ctx, a.ID, d.ID, a.Host, a.Role, a.State,
			a.Have, a.BytesBT, a.BytesHTTPRelay, a.BytesHTTPOrigin, a.BytesUp, a.Peers, a.Error,
			toMs(a.FirstByteAt), toMs(a.DoneAt), toMs(a.UpdatedAt))
		if isDuplicate(err) {
			return fmt.Errorf("assignment %s: %w", a.ID, ErrExists)
		}
		if err != nil {
			return fmt.Errorf("assignment %s: %w", a.ID, err)
		}
	}
	return tx.Commit()
}

// Distributions returns every distribution, newest first, with aggregates.
func (s *SQLite) Distributions(ctx context.Context) ([]api.Distribution, error) {
	rows, err := s.db.QueryContext(ctx, distAggSelect+` GROUP BY d.id ORDER BY d.created_at DESC, d.id DESC`)
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
func (s *SQLite) DistributionHeads(ctx context.Context) ([]api.Distribution, error) {
	return distributionHeads(ctx, s.db)
}

// distributionHeads reads distCols of every distribution, the same in both dialects.
func distributionHeads(ctx context.Context, db *sql.DB) ([]api.Distribution, error) {
	rows, err := db.QueryContext(ctx, `SELECT `+distCols+` FROM distributions d ORDER BY d.created_at DESC, d.id DESC`)
	if err != nil {
		return nil, fmt.Errorf("distribution heads: %w", err)
	}
	defer rows.Close()
	var ds []api.Distribution
	for rows.Next() {
		var r distRow
		if err := rows.Scan(r.dest()...); err != nil {
			return nil, fmt.Errorf("distribution heads: %w", err)
		}
		d, err := r.value()
		if err != nil {
			return nil, fmt.Errorf("distribution heads: %w", err)
		}
		ds = append(ds, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("distribution heads: %w", err)
	}
	return ds, nil
}

// Distribution returns one distribution with aggregates, assignments and metainfo.
func (s *SQLite) Distribution(ctx context.Context, id string) (api.Distribution, error) {
	d, err := s.distribution(ctx, id)
	if err != nil {
		return api.Distribution{}, fmt.Errorf("distribution %s: %w", id, err)
	}
	return d, nil
}

func (s *SQLite) distribution(ctx context.Context, id string) (api.Distribution, error) {
	// A read-only transaction is a plain BEGIN: one snapshot for the three reads, no write lock.
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return api.Distribution{}, err
	}
	defer tx.Rollback()
	d, err := scanDistAgg(tx.QueryRowContext(ctx, distAggSelect+` WHERE d.id = ? GROUP BY d.id`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return d, ErrNotFound
	}
	if err != nil {
		return d, err
	}
	if err := tx.QueryRowContext(ctx, `SELECT metainfo FROM distributions WHERE id = ?`, id).Scan(&d.Metainfo); err != nil {
		return d, err
	}
	d.Assignments, err = assignments(ctx, tx, id)
	return d, err
}

// SetMetainfo stores the metainfo and the fields derived from it.
func (s *SQLite) SetMetainfo(ctx context.Context, id string, metainfo []byte, infoHash string, pieceLen int64) error {
	err := mustAffect(s.w.ExecContext(ctx,
		`UPDATE distributions SET metainfo = ?, info_hash = ?, piece_length = ? WHERE id = ?`,
		metainfo, infoHash, pieceLen, id))
	if err != nil {
		return fmt.Errorf("set metainfo of distribution %s: %w", id, err)
	}
	return nil
}

// SetDistributionState sets state, and ended_at when ended is not zero. ErrNotFound if unknown.
func (s *SQLite) SetDistributionState(ctx context.Context, id string, state api.DistState, ended time.Time) error {
	e := toMs(ended)
	err := mustAffect(s.w.ExecContext(ctx,
		`UPDATE distributions SET state = ?, ended_at = CASE WHEN ? = 0 THEN ended_at ELSE ? END WHERE id = ?`,
		state, e, e, id))
	if err != nil {
		return fmt.Errorf("set state of distribution %s: %w", id, err)
	}
	return nil
}

// Assignments.

const assignCols = `a.id, a.dist_id, a.host, a.role, a.state, a.have, a.bytes_bt, a.bytes_http_relay,
	a.bytes_http_origin, a.bytes_up, a.peers, a.error, a.first_byte_at, a.done_at, a.updated_at,
	a.mode, a.mode_reason, a.mode_at, a.bytes_zero, a.bytes_kept`

// assignRow scans assignCols.
type assignRow struct {
	a                                api.Assignment
	firstByte, done, updated, modeAt int64
}

func (r *assignRow) dest() []any {
	return []any{&r.a.ID, &r.a.DistID, &r.a.Host, &r.a.Role, &r.a.State, &r.a.Have, &r.a.BytesBT,
		&r.a.BytesHTTPRelay, &r.a.BytesHTTPOrigin, &r.a.BytesUp, &r.a.Peers, &r.a.Error,
		&r.firstByte, &r.done, &r.updated, &r.a.Mode, &r.a.ModeReason, &r.modeAt,
		&r.a.BytesZero, &r.a.BytesKept}
}

func (r *assignRow) value() api.Assignment {
	a := r.a
	a.FirstByteAt, a.DoneAt, a.UpdatedAt = fromMs(r.firstByte), fromMs(r.done), fromMs(r.updated)
	a.ModeAt = fromMs(r.modeAt)
	return a
}

func assignments(ctx context.Context, q querier, distID string) ([]api.Assignment, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+assignCols+` FROM assignments a
		WHERE a.dist_id = ? ORDER BY a.role <> 'relay', a.host, a.id`, distID)
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
func (s *SQLite) Assignment(ctx context.Context, id string) (api.Assignment, error) {
	var r assignRow
	err := s.db.QueryRowContext(ctx, `SELECT `+assignCols+` FROM assignments a WHERE a.id = ?`, id).Scan(r.dest()...)
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return api.Assignment{}, fmt.Errorf("assignment %s: %w", id, err)
	}
	return r.value(), nil
}

// Assignments returns every assignment of a distribution, relays first, then clients by host.
func (s *SQLite) Assignments(ctx context.Context, distID string) ([]api.Assignment, error) {
	as, err := assignments(ctx, s.db, distID)
	if err != nil {
		return nil, fmt.Errorf("assignments of distribution %s: %w", distID, err)
	}
	return as, nil
}

// HostTasks returns the host's live assignments with their distributions (metainfo included,
// aggregates not computed). A complete or partial distribution whose ended_at is unset is left out.
func (s *SQLite) HostTasks(ctx context.Context, host string, now time.Time, keep time.Duration) ([]HostTask, error) {
	return s.hostTasks(ctx, host, now, keep, true)
}

// HostTaskHeads answers the host's live assignments without the metainfo bytes.
func (s *SQLite) HostTaskHeads(ctx context.Context, host string, now time.Time, keep time.Duration) ([]HostTask, error) {
	return s.hostTasks(ctx, host, now, keep, false)
}

func (s *SQLite) hostTasks(ctx context.Context, host string, now time.Time, keep time.Duration, withMeta bool) ([]HostTask, error) {
	meta := `d.metainfo`
	if !withMeta {
		meta = `CASE WHEN length(d.metainfo) > 0 THEN x'01' ELSE NULL END` // one byte: there is one
	}
	q, err := s.stmt(ctx, `SELECT `+assignCols+`, `+distCols+`, `+meta+`
		FROM assignments a JOIN distributions d ON d.id = a.dist_id
		WHERE a.host = ?
			AND (d.state IN ('pending', 'active')
				OR (d.state IN ('complete', 'partial') AND d.ended_at > ?))
		ORDER BY d.created_at, d.id, a.role <> 'relay', a.id`)
	if err != nil {
		return nil, fmt.Errorf("tasks of host %s: %w", host, err)
	}
	rows, err := q.QueryContext(ctx, host, now.Add(-keep).UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("tasks of host %s: %w", host, err)
	}
	return scanHostTasks(rows, host, withMeta)
}

// scanHostTasks reads the rows of a host's tasks query (assignment columns, distribution
// columns, then the metainfo or one byte saying there is one) and closes them.
func scanHostTasks(rows *sql.Rows, host string, withMeta bool) ([]HostTask, error) {
	defer rows.Close()
	var ts []HostTask
	for rows.Next() {
		var (
			ar   assignRow
			dr   distRow
			meta []byte
		)
		dest := append(ar.dest(), dr.dest()...)
		if err := rows.Scan(append(dest, &meta)...); err != nil {
			return nil, fmt.Errorf("tasks of host %s: %w", host, err)
		}
		d, err := dr.value()
		if err != nil {
			return nil, fmt.Errorf("tasks of host %s: %w", host, err)
		}
		if withMeta {
			d.Metainfo = meta
		}
		ts = append(ts, HostTask{Assignment: ar.value(), Distribution: d, HasMetainfo: len(meta) > 0})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("tasks of host %s: %w", host, err)
	}
	return ts, nil
}

// ApplyReport updates the host's assignments named in r and answers the ids whose state changed.
// A report with an empty state keeps the stored one.
func (s *SQLite) ApplyReport(ctx context.Context, host string, r []api.TaskReport, now time.Time) ([]string, error) {
	changed, err := s.applyReport(ctx, host, r, now)
	if err != nil {
		return nil, fmt.Errorf("apply report of host %s: %w", host, err)
	}
	return changed, nil
}

// ApplyReports applies many hosts' reports in one transaction: progress that a controller
// gathered over a second costs one commit, not one per host.
func (s *SQLite) ApplyReports(ctx context.Context, batch []HostReport) ([]string, error) {
	if len(batch) == 0 {
		return nil, nil
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("apply %d reports: %w", len(batch), err)
	}
	defer tx.Rollback()
	get, upd, err := s.reportStmts(ctx, tx)
	if err != nil {
		return nil, fmt.Errorf("apply %d reports: %w", len(batch), err)
	}
	var changed []string
	for _, b := range batch {
		c, err := applyReportTx(ctx, get, upd, b.Host, b.Tasks, b.At)
		if err != nil {
			return nil, fmt.Errorf("apply report of host %s: %w", b.Host, err)
		}
		changed = append(changed, c...)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("apply %d reports: %w", len(batch), err)
	}
	return changed, nil
}

func (s *SQLite) applyReport(ctx context.Context, host string, r []api.TaskReport, now time.Time) ([]string, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	get, upd, err := s.reportStmts(ctx, tx)
	if err != nil {
		return nil, err
	}
	changed, err := applyReportTx(ctx, get, upd, host, r, now)
	if err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	return changed, nil
}

// reportStmts answers the statements of applyReportTx within tx.
func (s *SQLite) reportStmts(ctx context.Context, tx *sql.Tx) (get, upd *sql.Stmt, err error) {
	get, err = s.txStmt(ctx, tx, qReportGet)
	if err != nil {
		return nil, nil, err
	}
	upd, err = s.txStmt(ctx, tx, qReportUpd)
	if err != nil {
		return nil, nil, err
	}
	return get, upd, nil
}

func applyReportTx(ctx context.Context, get, upd *sql.Stmt, host string, r []api.TaskReport, now time.Time) ([]string, error) {
	var changed []string
	seen := make(map[string]bool)
	for _, t := range r {
		var old api.TaskState
		err := get.QueryRowContext(ctx, t.ID, host).Scan(&old)
		if errors.Is(err, sql.ErrNoRows) {
			continue // not this host's, or gone
		}
		if err != nil {
			return nil, fmt.Errorf("assignment %s: %w", t.ID, err)
		}
		state := t.State
		if state == "" || old.Stopped() && !state.Complete() {
			// Failed or cancelled is not undone by a report that crossed the controller's decision
			// (a deadline, a final answer of the origin): only a finished copy, or the controller
			// itself (ReopenAssignment), moves it on.
			state = old
		}
		_, err = upd.ExecContext(ctx, state, t.Have, t.BytesBT, t.BytesHTTPRelay, t.BytesHTTPOrigin,
			t.BytesZero, t.BytesKept, t.BytesUp, t.Peers, t.Error, max(t.FirstByteMs, 0), max(t.DoneMs, 0), toMs(now),
			t.Mode, t.Mode, t.Mode, t.ModeReason, lastModeMs(t.ModeChanges), t.ID)
		if err != nil {
			return nil, fmt.Errorf("assignment %s: %w", t.ID, err)
		}
		if state != old && !seen[t.ID] {
			seen[t.ID] = true
			changed = append(changed, t.ID)
		}
	}
	return changed, nil
}

// jsonSettings stores a distribution's settings; none is an empty object.
func jsonSettings(s *api.Settings) string {
	if s == nil {
		return "{}"
	}
	b, err := json.Marshal(s)
	if err != nil {
		return "{}"
	}
	return string(b)
}

// lastModeMs is the time of the newest mode change in a report, 0 for none.
func lastModeMs(cs []api.ModeChange) int64 {
	var at int64
	for _, c := range cs {
		at = max(at, c.AtMs)
	}
	return at
}

// Events.

// AddEvent appends an event; a zero At means now.
func (s *SQLite) AddEvent(ctx context.Context, e Event) error {
	if e.At.IsZero() {
		e.At = time.Now()
	}
	_, err := s.w.ExecContext(ctx, qEventIns,
		toMs(e.At), e.DistID, e.Host, e.Kind, e.Msg)
	if err != nil {
		return fmt.Errorf("add event %s: %w", e.Kind, err)
	}
	return nil
}

// qEventIns appends one event.
const qEventIns = `INSERT INTO events (at, dist_id, host, kind, msg) VALUES (?, ?, ?, ?, ?)`

// AddEvents appends es in one transaction.
func (s *SQLite) AddEvents(ctx context.Context, es []Event) error {
	if len(es) == 0 {
		return nil
	}
	now := time.Now()
	err := s.writeEach(ctx, qEventIns, func(st *sql.Stmt) error {
		for _, e := range es {
			if e.At.IsZero() {
				e.At = now
			}
			if _, err := st.ExecContext(ctx, toMs(e.At), e.DistID, e.Host, e.Kind, e.Msg); err != nil {
				return fmt.Errorf("event %s: %w", e.Kind, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("add %d events: %w", len(es), err)
	}
	return nil
}

// Events returns up to limit events (all when limit <= 0), newest first; distID "" means all.
func (s *SQLite) Events(ctx context.Context, distID string, limit int) ([]Event, error) {
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	q, args := `SELECT id, at, dist_id, host, kind, msg FROM events ORDER BY id DESC LIMIT ?`, []any{limit}
	if distID != "" {
		q, args = `SELECT id, at, dist_id, host, kind, msg FROM events WHERE dist_id = ?
			ORDER BY id DESC LIMIT ?`, []any{distID, limit}
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
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
