// Package cli is the command line of dist: the Kong command tree, human and JSON output, and the
// mapping of every failure to a documented exit code (see exitcode.go).
package cli

import (
	"context"
	"dist/core/printable"
	"dist/daemon"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/alecthomas/kong"
)

// Version is stamped at build time: -ldflags "-X dist/cli.Version=1.2.3".
var Version = "dev"

// CLI is the root of the command tree.
type CLI struct {
	Globals

	Daemon  DaemonCmd  `cmd:"" help:"Run the dist daemon (controller, relay and/or client) until SIGINT or SIGTERM."`
	Push    PushCmd    `cmd:"" help:"Distribute a file (http(s) URL or local path) to hosts."`
	Ls      LsCmd      `cmd:"" help:"List distributions, newest first."`
	Show    ShowCmd    `cmd:"" help:"Show one distribution and each host's part in it."`
	Report  ReportCmd  `cmd:"" help:"Figures of one distribution: completion, speed per site, bytes by source, origin load, failures."`
	Hosts   HostsCmd   `cmd:"" help:"List the hosts known to the controller; approve, deny or revoke them (admin)."`
	Origin  OriginCmd  `cmd:"" help:"Show and set origin limits (connections, bandwidth, bytes per window) that hold for the whole fleet."`
	Top     TopCmd     `cmd:"" help:"Live dashboard of distributions, swarms, origin limits and events (plain text when not a terminal)."`
	Cancel  CancelCmd  `cmd:"" help:"Cancel a distribution on every host."`
	Version VersionCmd `cmd:"" help:"Print the version of dist."`
	// --version prints the same line as the version command.
	VersionFlag kong.VersionFlag `name:"version" help:"Print the version of dist and exit."`
	Plugin      PluginCmd        `cmd:"" help:"List and check plugins (origin IO for partitions, relay policies)."`
	Demo        DemoCmd          `cmd:"" help:"Run a whole distribution on this machine: origin, controller, relays and clients."`

	Token     TokenCmd     `cmd:"" help:"Create, list and revoke named operator tokens (admin)."`
	Audit     AuditCmd     `cmd:"" help:"List the controller's audit trail: who did what, when, from where (admin)."`
	Unpublish UnpublishCmd `cmd:"" help:"Withdraw a file this host published: stop seeding and serving it."`

	Ctl        ControllerCmd `cmd:"" name:"controller" help:"Look after the controller itself: backup of its database."`
	Completion CompletionCmd `cmd:"" help:"Print a shell completion script for bash, zsh or fish."`
	Man        ManCmd        `cmd:"" hidden:"" help:"Write the man pages (dist.1 and one per command) into a directory."`
}

// BeforeResolve loads config files just before kong applies resolvers, when --config and
// DIST_CONFIG are known.
func (c *CLI) BeforeResolve(k *kong.Kong, ctx *kong.Context) error {
	return addConfigResolvers(k, ctx)
}

// Main runs dist with the process's streams and returns the exit status.
func Main(args []string) int { return Run(args, os.Stdout, os.Stderr) }

// Run parses args, runs the command and returns the exit status. The context commands see is
// cancelled on SIGINT or SIGTERM; a second signal kills the process the default way.
func Run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop()
	}()
	return run(ctx, args, stdout, stderr)
}

// kongExit carries an exit status requested by kong (after --help) out of the parser.
type kongExit int

func run(ctx context.Context, args []string, stdout, stderr io.Writer) (code int) {
	var c CLI
	defer func() {
		if r := recover(); r != nil {
			e, ok := r.(kongExit)
			if !ok {
				panic(r)
			}
			code = int(e)
		}
	}()
	fail := func(err error) int {
		msg, code, apiCode := describe(err, c.controllerList())
		if ctx.Err() != nil && code != ExitInterrupted {
			// Whatever failed after a signal failed because of it.
			msg, code, apiCode = "interrupted", ExitInterrupted, ""
		}
		// A parse error may leave --json unparsed: look at the words themselves.
		asJSON := c.JSON || wantsJSON(args)
		if !asJSON {
			msg = printable.String(msg) // errors quote what controllers and hosts said
		}
		printError(stderr, asJSON, useColor(c.Color, streamIsTerminal(stderr), os.Getenv), msg, code, apiCode)
		return code
	}

	parser, err := NewParser(&c, stdout, stderr)
	if err != nil {
		return fail(err)
	}
	kctx, err := parser.Parse(args)
	if err != nil {
		return fail(err)
	}
	c.setup(ctx, stdout, stderr, explicitFlags(kctx))
	if err := kctx.Run(); err != nil {
		return fail(err)
	}
	return ExitOK
}

// NewParser builds the kong parser over c; the man page generator uses it too, with extra options
// that pin the machine-dependent defaults.
func NewParser(c *CLI, stdout, stderr io.Writer, extra ...kong.Option) (*kong.Kong, error) {
	opts := []kong.Option{
		kong.Name("dist"),
		kong.Description("Distribute big files from one origin to many hosts: BitTorrent carries the bulk, " +
			"HTTP fills the gaps, a controller keeps the origin's load inside hard limits."),
		kong.Writers(stdout, stderr),
		kong.Exit(func(code int) { panic(kongExit(code)) }),
		kong.Vars{
			"socket":       DefaultSocket(),
			"data_dir":     DefaultDataDir(),
			"hostname":     hostname(),
			"config_files": strings.Join(DefaultConfigFiles(), ", "),
			"version":      buildInfo().String(),
			// The daemon's defaults are set in one place (daemon.Config); the CLI shows them.
			"default_listen":    daemon.DefaultListen,
			"default_bt_listen": daemon.DefaultBTListen,
		},
		kong.Configuration(loadConfig),
		kong.ConfigureHelp(kong.HelpOptions{Compact: true}),
		kong.Bind(&c.Globals),
	}
	return kong.New(c, append(opts, extra...)...)
}

// explicitFlags collects the long names of flags set on the command line, by a config file (kong
// records both in the parse path) or by their environment variable.
func explicitFlags(kctx *kong.Context) map[string]bool {
	set := map[string]bool{}
	for _, p := range kctx.Path {
		if p.Flag != nil {
			set[p.Flag.Name] = true
		}
	}
	for _, p := range kctx.Path {
		node := p.Node()
		if node == nil {
			continue
		}
		for _, f := range node.Flags {
			for _, env := range f.Envs {
				if _, ok := os.LookupEnv(env); ok {
					set[f.Name] = true
				}
			}
		}
	}
	return set
}

// wantsJSON reports whether --json appears among the flags of args.
func wantsJSON(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "--json", "--json=true", "--json=1":
			return true
		}
	}
	return false
}
