package cli

import (
	"fmt"
	"os"
	"strconv"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"
	"github.com/charmbracelet/x/term"

	"dist/tui"
)

// TopCmd is the live dashboard. On a terminal it runs until q; anywhere else (a pipe, cron, a
// log) it prints one plain-text frame, or with --json the frame's data, and exits.
type TopCmd struct {
	ID       string        `arg:"" optional:"" help:"Open this distribution's swarm at once." placeholder:"ID"`
	Host     bool          `help:"Show the local daemon's own tasks over its LocalAPI (--socket) instead of the controller's view."`
	Interval time.Duration `help:"Time between refreshes." default:"1s" placeholder:"DURATION"`
	Once     bool          `help:"Print one plain-text frame and exit, even on a terminal."`
}

// Validate runs at parse time, so these mistakes exit with the usage code.
func (c *TopCmd) Validate() error {
	if c.Interval < 100*time.Millisecond {
		return fmt.Errorf("--interval: give at least 100ms")
	}
	if c.Host && c.ID != "" {
		return fmt.Errorf("--host shows the local daemon's tasks: leave out the distribution id")
	}
	return nil
}

// Run fetches once (so an unreachable controller or a bad token exits with its code at once),
// then prints that frame or starts the dashboard.
func (c *TopCmd) Run(g *Globals) error {
	var src tui.Source
	wrap := func(err error) error { return err }
	if c.Host {
		src = tui.NewLocal(g.Local())
		wrap = func(err error) error { return &localError{socket: g.Socket, err: err} }
	} else {
		src = tui.NewController(g.API())
	}
	snap, err := src.Fetch(g.Context(), c.ID)
	if err != nil {
		if c.ID != "" && statusIsNotFound(err) {
			return exitError{code: ExitNotFound, msg: "no such distribution: " + c.ID, err: err}
		}
		return fmt.Errorf("dist top: %w", wrap(err))
	}
	if g.JSON {
		return g.PrintJSON(snap)
	}
	if c.Once || !streamIsTerminal(g.Out) || !term.IsTerminal(os.Stdin.Fd()) {
		_, err := fmt.Fprint(g.Out, tui.Render(snap, columns(), g.OutColor()))
		return err
	}
	m := tui.New(src, tui.Options{Interval: c.Interval, Color: g.OutColor(), Local: c.Host, Open: c.ID})
	opts := []tea.ProgramOption{tea.WithContext(g.Context()), tea.WithOutput(g.Out)}
	if !g.OutColor() {
		opts = append(opts, tea.WithColorProfile(colorprofile.Ascii))
	}
	if _, err := tea.NewProgram(m, opts...).Run(); err != nil && g.Context().Err() == nil {
		return fmt.Errorf("dist top: %w", err)
	}
	return nil
}

// columns is the width of plain output: $COLUMNS when set, else 80.
func columns() int {
	if n, err := strconv.Atoi(os.Getenv("COLUMNS")); err == nil && n >= 40 {
		return n
	}
	return 80
}
