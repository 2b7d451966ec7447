package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/alecthomas/kong"

	"dist/core/api"
	"dist/core/pki"
)

// Globals are the flags every command accepts, and what commands share at run time: the output
// streams, the context cancelled on SIGINT/SIGTERM, and the API clients.
type Globals struct {
	Controller []string `help:"Base URL of the controller API; repeat it (or comma-separate, as in DIST_CONTROLLER) for several controllers on one database, tried in order (default: ${default})." env:"DIST_CONTROLLER" default:"https://127.0.0.1:7700" sep:"," placeholder:"URL"`
	Token      string   `help:"Operator token for commands; for 'dist daemon --insecure-plain-http' the host token. Prefer DIST_TOKEN or --token-file: a flag is visible to every user of the machine." env:"DIST_TOKEN" placeholder:"TOKEN"`
	TokenFile  string   `name:"token-file" help:"File holding the token (used when --token and DIST_TOKEN are not set)." env:"DIST_TOKEN_FILE" type:"path" placeholder:"FILE"`
	CAFile     string   `name:"ca-file" help:"CA certificate to trust the controller by: its <data>/pki/ca.crt (default: that file of the local data directory, when readable)." env:"DIST_CA_FILE" type:"path" placeholder:"FILE"`
	CAFP       string   `name:"ca-fingerprint" help:"Trust the controller whose CA has this fingerprint (sha256:..., logged by the controller at start and kept in <data>/pki/ca.fingerprint)." env:"DIST_CA_FINGERPRINT" placeholder:"SHA256"`
	Socket     string   `help:"LocalAPI unix socket of the local daemon (default: ${default})." env:"DIST_SOCKET" default:"${socket}" type:"path" placeholder:"PATH"`
	JSON       bool     `name:"json" help:"Print machine-readable JSON on stdout only; errors become one JSON object on stderr."`
	Quiet      bool     `short:"q" help:"No progress and no notes on stderr; errors are still printed."`
	Color      string   `help:"Colour output: ${enum}." enum:"auto,always,never" default:"auto" env:"DIST_COLOR" placeholder:"WHEN"`
	Config     string   `help:"JSON config file whose keys are flag names (default: ${config_files}, when present)." env:"DIST_CONFIG" placeholder:"FILE"`

	// Out receives results (human text or JSON), Err diagnostics.
	Out io.Writer `kong:"-"`
	Err io.Writer `kong:"-"`

	ctx      context.Context
	explicit map[string]bool // flags given on the command line, in the environment or a config file
	// secretFlags are the secrets given as command-line flags (warnSecretFlags).
	secretFlags []string
	isDaemon    bool
	caPool      *x509.CertPool // of --ca-file, read once flags are parsed
	outColor    bool
	errColor    bool
	errTTY      bool
}

// Context is cancelled when the process receives SIGINT or SIGTERM.
func (g *Globals) Context() context.Context {
	if g.ctx == nil {
		return context.Background()
	}
	return g.ctx
}

// API returns a client for the controllers at --controller, authenticated with --token, trusting
// them by --ca-file or --ca-fingerprint. A call goes to the next controller when one is not
// there (api.NewMulti); one client serves a whole command, so that it keeps to the one that
// answers.
func (g *Globals) API() *api.Client {
	c := api.NewMulti(g.Controller, g.Token)
	c.HTTP = g.HTTPClient()
	return c
}

// controllerList is --controller as one comma-separated string (the daemon's Config.Controller,
// and hints in error messages).
func (g *Globals) controllerList() string { return strings.Join(api.SplitURLs(g.Controller...), ",") }

// HTTPClient is an HTTP client to the controller with the trust of --ca-file or --ca-fingerprint.
func (g *Globals) HTTPClient() *http.Client {
	var tc *tls.Config
	switch {
	case g.caPool != nil:
		tc = pki.ControllerConfig(g.caPool, "")
	case g.CAFP != "":
		tc = pki.ControllerConfig(nil, g.CAFP)
	default:
		// On the controller's own machine its CA is at hand.
		if pool, err := readCA(filepath.Join(DefaultDataDir(), "pki", pki.CACertFile)); err == nil {
			tc = pki.ControllerConfig(pool, "")
		}
	}
	return &http.Client{Transport: api.NewTransport(&http.Transport{Proxy: http.ProxyFromEnvironment, TLSClientConfig: tc})}
}

func readCA(file string) (*x509.CertPool, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("ca file: %w: give the controller's <data>/pki/ca.crt with --ca-file", err)
	}
	pool, err := pki.PoolFromPEM(b)
	if err != nil {
		return nil, fmt.Errorf("ca file %s: %w: give the controller's <data>/pki/ca.crt", file, err)
	}
	return pool, nil
}

// AfterApply settles the token and the trust once flags are parsed: --token-file is read when no
// token is given otherwise, a fingerprint is checked, and secrets given as command-line flags are
// noted for a warning (other users of the machine see a process's arguments).
func (g *Globals) AfterApply(kctx *kong.Context) error {
	g.isDaemon = strings.HasPrefix(kctx.Command(), "daemon")
	for _, p := range kctx.Path {
		if p.Flag != nil && !p.Resolved && secretFlag[p.Flag.Name] && !slices.Contains(g.secretFlags, p.Flag.Name) {
			g.secretFlags = append(g.secretFlags, p.Flag.Name)
		}
	}
	if g.Token == "" && g.TokenFile != "" {
		b, err := os.ReadFile(g.TokenFile)
		if err != nil {
			return fmt.Errorf("token file: %w", err)
		}
		if g.Token = strings.TrimSpace(string(b)); g.Token == "" {
			return fmt.Errorf("token file %s is empty: write the token into it", g.TokenFile)
		}
	}
	if g.CAFile != "" {
		pool, err := readCA(g.CAFile)
		if err != nil {
			return err
		}
		g.caPool = pool
	}
	if g.CAFP != "" {
		fp, err := pki.ParseFingerprint(g.CAFP)
		if err != nil {
			return err
		}
		g.CAFP = fp
	}
	return nil
}

// secretFlag names the flags that carry a secret.
var secretFlag = map[string]bool{"token": true, "admin-token": true, "host-token": true}

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
	g.warnSecretFlags(stderr)
}

// warnSecretFlags warns of secrets given as flags: always for dist daemon (its stderr is its
// log), on a terminal for other commands (a person typed it; --json keeps stderr for the one
// error object, --quiet asks for no notes).
func (g *Globals) warnSecretFlags(w io.Writer) {
	if !g.isDaemon && (!g.errTTY || g.Quiet || g.JSON) {
		return
	}
	for _, f := range g.secretFlags {
		fmt.Fprintf(w, "warning: --%s on the command line is visible to every user of this machine: use its environment variable or a file instead\n", f)
	}
}
