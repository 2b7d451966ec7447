package cli

import (
	"fmt"
	"os"
	"strings"

	"dist/core/store"
)

// ControllerMigrateCmd copies a controller's SQLite database into an empty PostgreSQL database, so
// that several controllers can share it (dist daemon --role controller --store postgres://…). Its
// flags are one run's choices: never read from a config file.
type ControllerMigrateCmd struct {
	From   string `required:"" config:"-" help:"The controller database to copy: sqlite:PATH (stop that controller first, or the copy misses what it writes after)." placeholder:"sqlite:PATH"`
	To     string `config:"-" help:"The PostgreSQL database to fill, empty: postgres://USER@HOST:PORT/DB; its password in PGPASSWORD or PGPASSFILE, never here." placeholder:"URL"`
	ToFile string `name:"to-file" config:"-" help:"File holding the --to URL, password included (instead of --to)." type:"path" placeholder:"FILE"`
}

// Run opens both stores (bringing both schemas to this program's version) and copies every table
// in one PostgreSQL transaction: the target ends with all of it or nothing.
func (c *ControllerMigrateCmd) Run(g *Globals) error {
	path, ok := strings.CutPrefix(c.From, "sqlite:")
	if !ok || path == "" {
		return usageError{fmt.Errorf("--from %s: give the SQLite database as sqlite:PATH", c.From)}
	}
	to, err := store.ResolveSpec(c.To, c.ToFile)
	if err != nil {
		return usageError{fmt.Errorf("--to: %w", err)}
	}
	if !store.IsPostgres(to) {
		return usageError{fmt.Errorf("--to %s: give the target as postgres://USER@HOST:PORT/DB (or --to-file)", store.RedactSpec(to))}
	}
	// Open would create a missing database: a typo must not copy an empty one.
	if _, err := os.Stat(path); err != nil {
		return exitError{code: ExitError, msg: fmt.Sprintf("controller database %s: %v", path, err)}
	}
	ctx := g.Context()
	src, err := store.Open(path)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := store.OpenPostgres(ctx, to)
	if err != nil {
		return err
	}
	defer dst.Close()
	counts, err := store.CopyToPostgres(ctx, src, dst)
	if err != nil {
		return err
	}
	if g.JSON {
		return g.PrintJSON(map[string]any{"from": path, "to": dst.String(), "tables": counts})
	}
	for _, t := range counts {
		if _, err := fmt.Fprintf(g.Out, "%-14s %d rows\n", t.Table, t.Rows); err != nil {
			return err
		}
	}
	_, err = fmt.Fprintf(g.Out, "copied %s to %s: start the controllers with that URL in --store\n", path, dst)
	return err
}
