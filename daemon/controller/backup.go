package controller

import (
	"bufio"
	"fmt"
	"net/http"

	"dist/core/api"
	"dist/core/store"
)

// BackupPath is the admin route that answers a consistent copy of the controller database.
const BackupPath = "/v1/admin/backup"

// backup answers GET /v1/admin/backup: the whole database file as of one moment, taken while the
// controller serves (SQLite VACUUM INTO). Restoring it: stop the daemon, copy the file over
// controller.db, delete controller.db-wal and controller.db-shm, start the daemon.
func (s *Server) backup(w http.ResponseWriter, r *http.Request) error {
	b, ok := s.raw.(store.Backuper)
	if !ok {
		return errorf(http.StatusNotImplemented, api.CodeInternal, "this controller's store cannot make backups: back a PostgreSQL store up with pg_dump")
	}
	w.Header().Set("Content-Type", "application/vnd.sqlite3")
	w.Header().Set("Cache-Control", "no-store")
	// Headers go out with the first bytes: until then a failure is still answered as an error.
	bw := &lazyWriter{w: w}
	n, err := b.Backup(r.Context(), bw)
	if err != nil {
		if !bw.started {
			w.Header().Del("Content-Type")
			return fmt.Errorf("backup: %w", err)
		}
		// Too late for an error answer: cut the body short so the client sees a failed transfer.
		s.log.Error("backup failed mid-way", "err", err, "bytes", n)
		panic(http.ErrAbortHandler)
	}
	if err := bw.Flush(); err != nil {
		s.log.Warn("backup not delivered", "err", err)
		return nil
	}
	s.log.Info("backup taken", "bytes", n)
	return nil
}

// lazyWriter buffers the first write so that the status is sent only once there is something to send.
type lazyWriter struct {
	w       http.ResponseWriter
	bw      *bufio.Writer
	started bool
}

func (l *lazyWriter) Write(p []byte) (int, error) {
	if !l.started {
		l.started = true
		l.w.WriteHeader(http.StatusOK)
		l.bw = bufio.NewWriterSize(l.w, 256<<10)
	}
	return l.bw.Write(p)
}

func (l *lazyWriter) Flush() error {
	if l.bw == nil {
		l.w.WriteHeader(http.StatusOK)
		return nil
	}
	return l.bw.Flush()
}
