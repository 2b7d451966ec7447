package cli

import (
	"fmt"

	"dist/core/api"
)

// CancelCmd cancels a distribution.
type CancelCmd struct {
	ID string `arg:"" help:"Distribution id (as printed by push and ls)."`
}

// Run cancels the distribution on every host and prints its final line, or the API's JSON object.
// Hosts stop and remove unfinished data; finished copies stay where they are.
func (c *CancelCmd) Run(g *Globals) error {
	d, err := g.API().CancelDistribution(g.Context(), c.ID)
	switch {
	case statusIsNotFound(err):
		return exitError{code: ExitNotFound, msg: "no such distribution: " + c.ID, err: err}
	case api.IsCode(err, api.CodeConflict):
		return exitError{code: ExitError, err: fmt.Errorf("cancel %s: %w", c.ID, err)}
	case err != nil:
		return fmt.Errorf("cancel distribution %s: %w", c.ID, err)
	}
	if g.JSON {
		return g.PrintJSON(d)
	}
	_, err = fmt.Fprintf(g.Out, "%s %s: %d/%d targets done\n", d.ID, paint(g.OutColor(), stateStyle(d.State), string(d.State)), d.Done, d.Targets)
	return err
}
