package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// A database file can be lost without a sound: truncated to 0 bytes, deleted, or overwritten. An
// empty file is a valid empty SQLite database, so without help the controller would start with
// nothing and say nothing. The help is a marker file beside the database, written once the store
// holds its first host, distribution or origin policy: a database that is missing or empty while
// the marker exists is refused at open. Overwritten pages are caught by PRAGMA quick_check.

// MarkerSuffix names the marker file: the database path plus this suffix.
const MarkerSuffix = ".has-data"

const markerText = "dist: the controller database beside this file holds data.\n" +
	"If that database is missing or empty, the controller refuses to start: restore it from a backup\n" +
	"(dist controller backup FILE), or delete this file to start with an empty database on purpose.\n"

// Backuper is a Store that can write a consistent copy of itself while in use.
type Backuper interface {
	// Backup writes a complete database file, as of one moment, to w and answers its size.
	Backup(ctx context.Context, w io.Writer) (int64, error)
}

var _ Backuper = (*SQLite)(nil)

// restoreHint says how to bring back a backup; the -wal and -shm files of the damaged database
// must go with it, or SQLite would replay their pages over the restored one.
func restoreHint(path string) string {
	b := filepath.Base(path)
	return fmt.Sprintf("restore it from a backup: stop the daemon, copy the backup over %s, delete %s-wal and %s-shm beside it, start the daemon",
		b, b, b)
}

// checkPresent refuses a database file that is missing or empty while the marker says it held data.
func checkPresent(path string) error {
	marker := path + MarkerSuffix
	if _, err := os.Stat(marker); err != nil {
		return nil // no marker: a fresh data dir, or one from before the marker existed
	}
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("controller database %s is missing but %s shows it held data: %s; or delete %s to start empty on purpose",
			path, filepath.Base(marker), restoreHint(path), filepath.Base(marker))
	case err != nil:
		return fmt.Errorf("open store %s: %w", path, err)
	case fi.Size() == 0:
		return fmt.Errorf("controller database %s is empty (0 bytes) but %s shows it held data: %s; or delete %s to start empty on purpose",
			path, filepath.Base(marker), restoreHint(path), filepath.Base(marker))
	}
	return nil
}

// checkIntegrity runs PRAGMA quick_check: the b-tree pages, free list and record formats, in one
// pass over the file (a few seconds per GiB), without the index cross-checks of integrity_check.
func checkIntegrity(ctx context.Context, db *sql.DB, path string) error {
	var res string
	err := db.QueryRowContext(ctx, "PRAGMA quick_check(1)").Scan(&res)
	if err != nil {
		if corrupt(err) {
			return damaged(path, err.Error())
		}
		return fmt.Errorf("open store %s: integrity check: %w", path, err)
	}
	if res != "ok" {
		return damaged(path, res)
	}
	return nil
}

func damaged(path, why string) error {
	const max = 200 // quick_check's report can be long; its first words say enough
	// One line, whatever SQLite's report spans.
	why = strings.Join(strings.Fields(why), " ")
	if len(why) > max {
		why = why[:max] + "…"
	}
	return fmt.Errorf("controller database %s is damaged (%s): %s", path, why, restoreHint(path))
}

// corrupt reports whether err is SQLite's "malformed" or "not a database".
func corrupt(err error) bool {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return false
	}
	switch e.Code() & 0xff {
	case sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB:
		return true
	}
	return false
}

// checkHeld refuses a database without rows while the marker exists, and writes the marker when the
// database holds rows (a data dir from before the marker existed gets it at its first open).
func (s *SQLite) checkHeld(ctx context.Context) error {
	var n int64
	err := s.db.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM hosts) + (SELECT COUNT(*) FROM distributions)
		+ (SELECT COUNT(*) FROM origins)`).Scan(&n)
	if err != nil {
		if corrupt(err) {
			return damaged(s.path, err.Error())
		}
		return fmt.Errorf("open store %s: count rows: %w", s.path, err)
	}
	marker := s.path + MarkerSuffix
	_, statErr := os.Stat(marker)
	if n == 0 {
		if statErr == nil {
			return fmt.Errorf("controller database %s holds no host, distribution or origin but %s shows it held data: %s; or delete %s to start empty on purpose",
				s.path, filepath.Base(marker), restoreHint(s.path), filepath.Base(marker))
		}
		return nil
	}
	return s.markHeld()
}

// markHeld writes the marker once the store holds data. It is called after every write that adds
// a host, a distribution or an origin, and costs one atomic load once the marker is there.
func (s *SQLite) markHeld() error {
	if s.held.Load() {
		return nil
	}
	s.markMu.Lock()
	defer s.markMu.Unlock()
	if s.held.Load() {
		return nil
	}
	marker := s.path + MarkerSuffix
	if _, err := os.Stat(marker); err != nil {
		if err := writeMarker(marker); err != nil {
			return fmt.Errorf("write store marker %s: %w", marker, err)
		}
	}
	s.held.Store(true)
	return nil
}

func writeMarker(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(markerText); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Backup writes a consistent copy of the database to w: VACUUM INTO a temporary file beside the
// database (same disk, so no surprise from a small /tmp), then the file's bytes. The controller
// keeps serving meanwhile; writers wait only for the moments SQLite needs.
func (s *SQLite) Backup(ctx context.Context, w io.Writer) (int64, error) {
	f, err := os.CreateTemp(filepath.Dir(s.path), filepath.Base(s.path)+".backup-*")
	if err != nil {
		return 0, fmt.Errorf("backup of %s: %w", s.path, err)
	}
	tmp := f.Name()
	f.Close()
	// VACUUM INTO wants a file that does not exist yet.
	if err := os.Remove(tmp); err != nil {
		return 0, fmt.Errorf("backup of %s: %w", s.path, err)
	}
	defer os.Remove(tmp)
	if _, err := s.db.ExecContext(ctx, "VACUUM INTO ?", tmp); err != nil {
		return 0, fmt.Errorf("backup of %s: %w", s.path, err)
	}
	f, err = os.Open(tmp)
	if err != nil {
		return 0, fmt.Errorf("backup of %s: %w", s.path, err)
	}
	defer f.Close()
	n, err := io.Copy(w, f)
	if err != nil {
		return n, fmt.Errorf("backup of %s: %w", s.path, err)
	}
	return n, nil
}
