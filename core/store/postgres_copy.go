package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// TableCopy is how many rows of one table a copy moved.
type TableCopy struct {
	Table string `json:"table"`
	Rows  int64  `json:"rows"`
}

// copyOrder puts the tables that others reference first; a table a later migration adds comes
// after these, by name.
var copyOrder = []string{"hosts", "distributions", "assignments", "events", "samples", "origins", "tokens", "audit"}

// CopyToPostgres copies every table of src into dst, which must be empty (a fresh database that
// OpenPostgres migrated). It reads src in one read transaction, so a copy of a database in use is
// still one moment's state, and writes dst in one transaction: dst ends with all of it or none.
// Row ids are kept (events, audit, samples) and dst's id sequences move past them.
func CopyToPostgres(ctx context.Context, src *SQLite, dst *Postgres) ([]TableCopy, error) {
	out, err := copyToPostgres(ctx, src, dst)
	if err != nil {
		return nil, fmt.Errorf("copy %s to %s: %w", src.path, dst.name, err)
	}
	return out, nil
}

func copyToPostgres(ctx context.Context, src *SQLite, dst *Postgres) ([]TableCopy, error) {
	rtx, err := src.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer rtx.Rollback()
	tables, err := sqliteTables(ctx, rtx)
	if err != nil {
		return nil, err
	}
	conn, err := dst.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	var out []TableCopy
	err = conn.Raw(func(dc any) error {
		pc := dc.(*stdlib.Conn).Conn()
		tx, err := pc.Begin(ctx)
		if err != nil {
			return err
		}
		defer tx.Rollback(ctx)
		for _, table := range tables {
			n, err := copyTable(ctx, rtx, tx, table)
			if err != nil {
				return fmt.Errorf("table %s: %w", table, err)
			}
			out = append(out, TableCopy{Table: table, Rows: n})
		}
		if err := moveSequences(ctx, tx); err != nil {
			return err
		}
		return tx.Commit(ctx)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// sqliteTables lists src's tables in copy order.
func sqliteTables(ctx context.Context, q querier) ([]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		names = append(names, n)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rank := func(n string) int {
		if i := slices.Index(copyOrder, n); i >= 0 {
			return i
		}
		return len(copyOrder)
	}
	slices.SortFunc(names, func(a, b string) int {
		if ra, rb := rank(a), rank(b); ra != rb {
			return ra - rb
		}
		return strings.Compare(a, b)
	})
	return names, nil
}

// copyTable streams one table from SQLite into PostgreSQL with COPY, over the columns PostgreSQL
// has; a PostgreSQL id that SQLite keeps as its rowid (samples) takes the rowid.
func copyTable(ctx context.Context, src querier, tx pgx.Tx, table string) (int64, error) {
	var held int64
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM `+pgx.Identifier{table}.Sanitize()).Scan(&held); err != nil {
		return 0, fmt.Errorf("the PostgreSQL database has no such table (is it at the same schema version?): %w", err)
	}
	if held > 0 {
		return 0, fmt.Errorf("the PostgreSQL database holds %d rows already: copy into an empty database", held)
	}
	cols, err := pgColumns(ctx, tx, table)
	if err != nil {
		return 0, err
	}
	lite, err := sqliteColumns(ctx, src, table)
	if err != nil {
		return 0, err
	}
	sel := make([]string, len(cols))
	for i, c := range cols {
		switch {
		case slices.Contains(lite, c):
			sel[i] = `"` + c + `"`
		case c == "id":
			sel[i] = "rowid"
		default:
			return 0, fmt.Errorf("column %s is not in the SQLite table", c)
		}
	}
	for _, c := range lite {
		if !slices.Contains(cols, c) {
			return 0, fmt.Errorf("column %s is not in the PostgreSQL table", c)
		}
	}
	rows, err := src.QueryContext(ctx, `SELECT `+strings.Join(sel, ", ")+` FROM "`+table+`" ORDER BY rowid`)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	n, err := tx.CopyFrom(ctx, pgx.Identifier{table}, cols, pgx.CopyFromFunc(func() ([]any, error) {
		if !rows.Next() {
			return nil, rows.Err()
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		return vals, nil
	}))
	if err != nil {
		return n, err
	}
	return n, rows.Err()
}

func pgColumns(ctx context.Context, tx pgx.Tx, table string) ([]string, error) {
	rows, err := tx.Query(ctx, `SELECT column_name FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position`, table)
	if err != nil {
		return nil, err
	}
	cols, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err == nil && len(cols) == 0 {
		err = errors.New("no columns")
	}
	return cols, err
}

func sqliteColumns(ctx context.Context, q querier, table string) ([]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT name FROM pragma_table_info(?)`, table)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var cols []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, err
		}
		cols = append(cols, c)
	}
	return cols, rows.Err()
}

// moveSequences sets every identity column's sequence past the ids copied in.
func moveSequences(ctx context.Context, tx pgx.Tx) error {
	rows, err := tx.Query(ctx, `SELECT table_name, column_name FROM information_schema.columns
		WHERE table_schema = current_schema() AND is_identity = 'YES'`)
	if err != nil {
		return err
	}
	type col struct{ table, column string }
	cols, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (col, error) {
		var c col
		err := r.Scan(&c.table, &c.column)
		return c, err
	})
	if err != nil {
		return err
	}
	for _, c := range cols {
		t, k := pgx.Identifier{c.table}.Sanitize(), pgx.Identifier{c.column}.Sanitize()
		if _, err := tx.Exec(ctx, `SELECT setval(pg_get_serial_sequence($1, $2), COALESCE(MAX(`+k+`), 0) + 1, false) FROM `+t,
			c.table, c.column); err != nil {
			return fmt.Errorf("sequence of %s.%s: %w", c.table, c.column, err)
		}
	}
	return nil
}
