package cli

import (
	"fmt"

	"dist/core/api"
)

// LsCmd lists distributions.
type LsCmd struct{}

// Run prints the distributions as a table, or as the API's JSON array.
func (c *LsCmd) Run(g *Globals) error {
	ds, err := g.API().Distributions(g.Context())
	if err != nil {
		return fmt.Errorf("list distributions: %w", err)
	}
	if g.JSON {
		if ds == nil {
			ds = []api.Distribution{} // scripts expect an array, never null
		}
		return g.PrintJSON(ds)
	}
	t := newTable("ID", "NAME", "STATE", "SIZE", "DONE", "PROGRESS", "CREATED")
	for _, d := range ds {
		done := fmt.Sprintf("%d/%d", d.Done, d.Targets)
		if d.Failed > 0 {
			done += fmt.Sprintf(" (%d failed)", d.Failed)
		}
		t.add(d.ID, d.Name, string(d.State), humanBytes(d.Size), done, progressText(d), formatTime(d.CreatedAt))
		t.style(2, stateStyle(d.State))
	}
	return t.write(g.Out, g.OutColor())
}

// progressText is the PROGRESS of a distribution: the share of its bytes held while it runs; once
// it ended without every target, the share of targets that got the file ("failed" when none did),
// because the bytes partial copies held are gone and never counted as delivered.
func progressText(d api.Distribution) string {
	switch d.State {
	case api.DistFailed:
		return "failed"
	case api.DistPartial, api.DistCancelled:
		if d.Targets <= 0 {
			return "-"
		}
		return fmt.Sprintf("%.1f%% delivered", 100*float64(d.Done)/float64(d.Targets))
	}
	return percent(d)
}
