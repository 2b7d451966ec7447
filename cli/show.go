package cli

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"dist/core/api"
	"dist/core/content"
	"dist/core/printable"
	"dist/tui"
)

// ShowCmd shows one distribution.
type ShowCmd struct {
	ID string `arg:"" help:"Distribution id (as printed by push and ls)."`
}

// Run prints the details and the assignments table, or the API's JSON object.
func (c *ShowCmd) Run(g *Globals) error {
	d, err := g.API().Distribution(g.Context(), c.ID)
	if err != nil {
		if statusIsNotFound(err) {
			return exitError{code: ExitNotFound, msg: "no such distribution: " + c.ID, err: err}
		}
		return fmt.Errorf("show distribution %s: %w", c.ID, err)
	}
	if g.JSON {
		return g.PrintJSON(d)
	}
	color := g.OutColor()
	var b strings.Builder
	field := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, "%-11s %s\n", k, v)
		}
	}
	field("ID", d.ID)
	field("Name", printable.String(d.Name))
	field("State", paint(color, stateStyle(d.State), string(d.State)))
	field("Source", printable.String(d.Source))
	size := humanBytes(d.Size)
	if d.PieceLength > 0 {
		size += fmt.Sprintf(" in pieces of %s", humanBytes(d.PieceLength))
	}
	field("Size", size)
	field("Info hash", d.InfoHash)
	field("SHA-256", d.SHA256)
	field("Check", checkText(d.Metainfo))
	field("Dest", printable.String(d.Dest))
	field("Publisher", printable.String(d.Publisher))
	field("Selectors", printable.String(strings.Join(d.Selectors, ", ")))
	field("Created", formatTime(d.CreatedAt))
	if !d.EndedAt.IsZero() {
		field("Ended", fmt.Sprintf("%s (took %s)", formatTime(d.EndedAt), d.EndedAt.Sub(d.CreatedAt).Round(time.Second)))
	}
	field("Targets", fmt.Sprintf("%d: %d done, %d failed", d.Targets, d.Done, d.Failed))
	field("Progress", progressText(d))
	if r, n, active := tui.CommonStall(d); r != "" {
		// Why the distribution is not moving, as its hosts say: the first place an operator looks.
		field("Waiting", tui.StallLine(r, n, active))
	}
	field("Bytes", bySource(d.BytesBT, d.BytesHTTPRelay, d.BytesHTTPOrigin))
	if _, err := fmt.Fprint(g.Out, b.String()); err != nil {
		return err
	}
	if len(d.Assignments) == 0 {
		return nil
	}
	// Relays first: they feed everyone else.
	as := slices.Clone(d.Assignments)
	slices.SortStableFunc(as, func(a, b api.Assignment) int {
		if a.Role != b.Role {
			if a.Role == api.RoleRelay {
				return -1
			}
			if b.Role == api.RoleRelay {
				return 1
			}
		}
		return cmp.Compare(a.Host, b.Host)
	})
	fmt.Fprintln(g.Out)
	t := newTable("HOST", "ROLE", "STATE", "MODE", "HAVE", "BT", "RELAY", "ORIGIN", "PEERS", "REASON")
	for _, a := range as {
		mode := a.Mode // a client's hybrid mode (bt, assisting, http-main); "-" for a relay
		if mode == "" {
			mode = "-"
		}
		state := tui.ShownState(d.State, a.State) // never a stale "downloading" once it ended
		t.add(a.Host, string(a.Role), string(state), mode, humanBytes(a.Have), humanBytes(a.BytesBT), humanBytes(a.BytesHTTPRelay),
			humanBytes(a.BytesHTTPOrigin), strconv.Itoa(a.Peers), assignmentReason(d, a))
		t.style(2, stateStyle(state))
	}
	return t.write(g.Out, color)
}

// checkText says how the targets check their copies, from the distribution's metainfo (push
// --trusted marks it); "" while a relay still hashes a URL source.
func checkText(mi []byte) string {
	switch content.ModeOf(mi) {
	case content.ModeTrusted:
		return content.ModeTrusted + " (one in-order read of the whole-image SHA-256 per target)"
	case content.ModeNormal:
		return content.ModeNormal + " (pieces hashed again during the whole-image SHA-256 check)"
	}
	return ""
}

// statusIsNotFound reports whether the controller said the thing asked for does not exist.
func statusIsNotFound(err error) bool {
	var se *api.StatusError
	if !errors.As(err, &se) {
		return false
	}
	return se.Code == api.CodeNotFound || (se.Code == "" && se.Status == 404)
}

// assignmentReason is the REASON cell: why the task failed, why it is not moving, or, for a client
// that HTTP helps, why it is in its mode.
func assignmentReason(d api.Distribution, a api.Assignment) string {
	if r := cmp.Or(tui.Failure(d, a), tui.Stall(d, a)); r != "" {
		return r
	}
	if a.State.Active() && a.Mode != "" && a.Mode != "bt" {
		return printable.String(a.ModeReason)
	}
	return ""
}
