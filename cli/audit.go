package cli

import (
	"fmt"
	"net/http"
	"strconv"

	"dist/core/store"
)

// AuditCmd lists the controller's audit trail (admin only).
type AuditCmd struct {
	Limit int `default:"100" help:"Show the newest N entries; 0: all." placeholder:"N"`
}

// Run prints the audit trail, newest first, as a table or the API's JSON array.
func (c *AuditCmd) Run(g *Globals) error {
	if c.Limit < 0 {
		return usageError{fmt.Errorf("--limit %d: give a count, 0 for all", c.Limit)}
	}
	var es []store.AuditEntry
	if err := g.API().Do(g.Context(), http.MethodGet, "/v1/audit?limit="+strconv.Itoa(c.Limit), nil, &es); err != nil {
		return fmt.Errorf("list audit: %w", err)
	}
	if g.JSON {
		if es == nil {
			es = []store.AuditEntry{}
		}
		return g.PrintJSON(es)
	}
	t := newTable("TIME", "WHO", "ROLE", "ACTION", "TARGET", "FROM", "STATUS", "RESULT")
	for _, e := range es {
		t.add(formatTime(e.At), e.Who, e.Role, e.Action, orDash(e.Target), orDash(e.Remote), strconv.Itoa(e.Status), e.Result)
	}
	return t.write(g.Out, g.OutColor())
}
