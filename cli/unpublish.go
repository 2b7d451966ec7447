package cli

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"

	"dist/core/api"
	"dist/daemon/local"
)

// UnpublishCmd withdraws a file this host published (dist push of a local path).
type UnpublishCmd struct {
	What string `arg:"" name:"hash|path" help:"Info hash (as push printed it) or path of the published file."`
}

// Run asks the local daemon to stop seeding and serving the file; the file itself stays.
func (c *UnpublishCmd) Run(g *Globals) error {
	what := c.What
	if _, err := os.Stat(what); err == nil {
		if abs, err := filepath.Abs(what); err == nil {
			what = abs // the daemon's working directory is not ours
		}
	}
	var p api.Published
	err := g.Local().Do(g.Context(), http.MethodPost, local.UnpublishPath, local.Unpublish{What: what}, &p)
	switch {
	case statusIsNotFound(err):
		return exitError{code: ExitNotFound, msg: c.What + " is not published on this host", err: err}
	case err != nil:
		return fmt.Errorf("unpublish %s: %w", c.What, err)
	}
	if g.JSON {
		return g.PrintJSON(p)
	}
	_, err = fmt.Fprintf(g.Out, "%s (%s) withdrawn: no longer seeded or served\n", p.Name, p.InfoHash)
	return err
}
