package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"dist/core/api"
)

// Globals are the flags every command accepts, and what commands share at run time: the output
// streams, the context cancelled on SIGINT/SIGTERM, and the API clients.
type Globals struct {
	Controller string `help:"Base URL of the controller API (default: ${default})." env:"DIST_CONTROLLER" default:"http://127.0.0.1:7700" placeholder:"URL"`
	Token      string `help:"Admin token for commands; for 'dist daemon' the host token it presents to the controller." env:"DIST_TOKEN" placeholder:"TOKEN"`
	Socket     string `help:"LocalAPI unix socket of the local daemon (default: ${default})." env:"DIST_SOCKET" default:"${socket}" type:"path" placeholder:"PATH"`
	JSON       bool   `name:"json" help:"Print machine-readable JSON on stdout only; errors become one JSON object on stderr."`
	Quiet      bool   `short:"q" help:"No progress and no notes on stderr; errors are still printed."`
	Color      string `help:"Colour output: ${enum}." enum:"auto,always,never" default:"auto" env:"DIST_COLOR" placeholder:"WHEN"`
	Config     string `help:"JSON config file whose keys are flag names (default: ${config_files}, when present)." env:"DIST_CONFIG" placeholder:"FILE"`

	// Out receives results (human text or JSON), Err diagnostics.
	Out io.Writer `kong:"-"`
	Err io.Writer `kong:"-"`

	ctx      context.Context
	explicit map[string]bool // flags given on the command line, in the environment or a config file
	outColor bool
	errColor bool
	errTTY   bool
}

// Context is cancelled when the process receives SIGINT or SIGTERM.
func (g *Globals) Context() context.Context {
	if g.ctx == nil {
		return context.Background()
	}
	return g.ctx
}

// API returns a client for the controller at --controller, authenticated with --token.
func (g *Globals) API() *api.Client { return api.New(g.Controller, g.Token) }

// Local returns a client for the local daemon's LocalAPI at --socket.
func (g *Globals) Local() *api.Client { return api.NewLocal(g.Socket) }

// IsSet reports whether a flag (by its long name) was given on the command line, in its environment
// variable or in a config file, rather than left at its default.
func (g *Globals) IsSet(name string) bool { return g.explicit[name] }

// PrintJSON writes v to Out as indented JSON.
func (g *Globals) PrintJSON(v any) error {
	enc := json.NewEncoder(g.Out)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("write json: %w", err)
	}
	return nil
}

// Notef prints a note for a person on Err, unless --quiet. Results never go through here.
func (g *Globals) Notef(format string, args ...any) {
	if g.Quiet {
		return
	}
	fmt.Fprintf(g.Err, format+"\n", args...)
}

// ShowProgress reports whether live progress may be drawn: only for a person watching a terminal.
func (g *Globals) ShowProgress() bool { return g.errTTY && !g.Quiet }

// OutColor reports whether styling is enabled on Out; ErrColor the same for Err.
func (g *Globals) OutColor() bool { return g.outColor }

// ErrColor reports whether styling is enabled on Err.
func (g *Globals) ErrColor() bool { return g.errColor }

// setup fills the run-time fields once flags are parsed.
func (g *Globals) setup(ctx context.Context, stdout, stderr io.Writer, explicit map[string]bool) {
	g.ctx = ctx
	g.Out, g.Err = stdout, stderr
	g.explicit = explicit
	g.errTTY = streamIsTerminal(stderr)
	g.outColor = useColor(g.Color, streamIsTerminal(stdout), os.Getenv)
	g.errColor = useColor(g.Color, g.errTTY, os.Getenv)
}
