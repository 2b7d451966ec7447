package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"

	"dist/core/api"
	"dist/daemon/controller"
)

// ControllerCmd groups the commands about the controller itself.
type ControllerCmd struct {
	Backup  ControllerBackupCmd  `cmd:"" help:"Copy the controller database into FILE while the controller runs (restore: stop the daemon, copy FILE over controller.db, delete controller.db-wal and controller.db-shm, start it)."`
	Migrate ControllerMigrateCmd `cmd:"" help:"Copy a controller's SQLite database into an empty PostgreSQL database, for several controllers sharing it (--store postgres://…)."`
}

// ControllerBackupCmd writes an online backup of the controller database.
type ControllerBackupCmd struct {
	File  string `arg:"" help:"File to write the backup to (an SQLite database)." type:"path"`
	Force bool   `help:"Replace FILE when it exists."`
}

// sqliteHeader starts every SQLite database file.
var sqliteHeader = []byte("SQLite format 3\x00")

// Run asks the controller for a consistent copy of its database (admin token) and writes it to
// FILE through a temporary file beside it, so FILE is either the whole backup or untouched.
func (c *ControllerBackupCmd) Run(g *Globals) error {
	if _, err := os.Stat(c.File); err == nil && !c.Force {
		return exitError{code: ExitError, msg: fmt.Sprintf("backup file %s exists: choose another name or pass --force", c.File)}
	}
	ctx := g.Context()
	base := g.API().Base // a backup is one controller's: the first
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+controller.BackupPath, nil)
	if err != nil {
		return fmt.Errorf("backup request: %w", err)
	}
	if g.Token != "" {
		req.Header.Set("Authorization", "Bearer "+g.Token)
	}
	resp, err := g.HTTPClient().Do(req)
	if err != nil {
		return &api.UnreachableError{URL: base, Err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var e api.Error
		_ = json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&e)
		if e.Error == "" {
			e.Error = fmt.Sprintf("controller answered %s to the backup request", resp.Status)
		}
		return &api.StatusError{Status: resp.StatusCode, Code: e.Code, Msg: e.Error}
	}
	tmp, err := os.CreateTemp(filepath.Dir(c.File), "."+filepath.Base(c.File)+".part-*")
	if err != nil {
		return fmt.Errorf("backup file %s: %w", c.File, err)
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	n, err := io.Copy(tmp, resp.Body)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("backup file %s: %w", c.File, err)
	}
	if err := checkBackup(tmp.Name()); err != nil {
		return fmt.Errorf("backup file %s: %w", c.File, err)
	}
	if err := os.Rename(tmp.Name(), c.File); err != nil {
		return fmt.Errorf("backup file %s: %w", c.File, err)
	}
	if g.JSON {
		return g.PrintJSON(map[string]any{"file": c.File, "bytes": n})
	}
	_, err = fmt.Fprintf(g.Out, "backup written to %s (%s)\n", c.File, humanBytes(n))
	return err
}

// checkBackup makes sure what arrived is a database file, not a proxy's error page.
func checkBackup(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	head := make([]byte, len(sqliteHeader))
	if _, err := io.ReadFull(f, head); err != nil || !bytes.Equal(head, sqliteHeader) {
		return fmt.Errorf("the controller's answer is not an SQLite database: check --controller")
	}
	return nil
}
