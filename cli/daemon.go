package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"

	"dist/core/api"
	"dist/core/store"
	"dist/daemon"
)

// DaemonCmd runs the long-lived process every host runs. Each flag also reads DIST_<NAME>.
type DaemonCmd struct {
	Role        []string          `help:"Roles to hold, comma separated: ${enum}." required:"" enum:"controller,relay,client" env:"DIST_ROLE" placeholder:"ROLE"`
	Listen      string            `help:"HTTP listen address for the controller API and content (default: ${default})." default:"${default_listen}" env:"DIST_LISTEN" placeholder:"ADDR"`
	Advertise   string            `help:"Base URL other hosts use to reach this daemon's HTTP (default: derived from --listen)." env:"DIST_ADVERTISE" placeholder:"URL"`
	BTListen    string            `name:"bt-listen" help:"BitTorrent listen address (default: ${default})." default:"${default_bt_listen}" env:"DIST_BT_LISTEN" placeholder:"ADDR"`
	Data        string            `help:"Data directory: database, partial and finished files, LocalAPI socket (default: ${default})." default:"${data_dir}" env:"DIST_DATA" type:"path" placeholder:"DIR"`
	Name        string            `help:"Host name reported to the controller (default: ${default})." default:"${hostname}" env:"DIST_NAME" placeholder:"NAME"`
	Label       map[string]string `help:"Host label used by selectors, repeatable (env: k=v;k=v)." env:"DIST_LABEL" placeholder:"KEY=VALUE"`
	AdminToken  string            `help:"Controller role: token accepted from operators and scripts." env:"DIST_ADMIN_TOKEN" placeholder:"TOKEN"`
	HostToken   string            `help:"Controller role: token accepted from daemons (default: --token)." env:"DIST_HOST_TOKEN" placeholder:"TOKEN"`
	ReadyFile   string            `help:"Write {http_url,bt_addr,socket} as JSON here once serving." env:"DIST_READY_FILE" hidden:""`
	SocketGroup string            `name:"socket-group" help:"Group (name or id) whose members may use this daemon's LocalAPI socket: the socket is then 0660 (default: 0600, the daemon's user and root only)." env:"DIST_SOCKET_GROUP" placeholder:"GROUP"`
	LogLevel    string            `help:"Log level: ${enum} (default: ${default})." enum:"debug,info,warn,error" default:"info" env:"DIST_LOG_LEVEL" placeholder:"LEVEL"`

	BTBlocked           bool        `name:"bt-blocked" help:"Client role: use no BitTorrent connection at all, as on a network that blocks P2P (HTTP carries the download)." env:"DIST_BT_BLOCKED"`
	NoExchange          bool        `name:"no-exchange" help:"Client role: take no part in the piece exchange over HTTP while a relay pulls (a stripe from the relay, the rest from peers); BitTorrent and the HTTP assist only." env:"DIST_NO_EXCHANGE"`
	BTDownloadRate      Rate        `name:"bt-download-rate" help:"Cap of this host's BitTorrent download rate, e.g. 20MiB/s (default: none)." env:"DIST_BT_DOWNLOAD_RATE" placeholder:"RATE"`
	BTUploadRate        Rate        `name:"bt-upload-rate" help:"Cap of this host's upload rate: BitTorrent, and on a relay its HTTP answers too; set a relay a little below its uplink so that its own pull keeps going (default: none)." env:"DIST_BT_UPLOAD_RATE" placeholder:"RATE"`
	AllowUnleasedOrigin bool        `help:"Client role: fetch pieces from the origin without a controller lease (the origin's load is then unbounded)." env:"DIST_ALLOW_UNLEASED_ORIGIN"`
	Hybrid              HybridFlags `embed:"" group:"Hybrid download defaults (a push's settings win)"`
	DestRoot            []string    `name:"dest-root" help:"Client role: where pushes may put files on this host, repeatable: absolute directories, or device URI prefixes such as partition:///dev/disk/by-label/ (default: <data>/files). A push naming another destination fails at once." env:"DIST_DEST_ROOT" sep:";" placeholder:"DIR"`
	PluginDir           string      `help:"Directory of dist-plugin-NAME executables (default: beside dist, then the system's plugin directory)." env:"DIST_PLUGIN_DIR" type:"path" placeholder:"DIR"`
	RelayPolicy         string      `help:"Controller role: relay-policy plugin choosing relays (default: built-in); it falls back to the built-in policy when the plugin fails." env:"DIST_RELAY_POLICY" placeholder:"PLUGIN"`

	JoinTokenFile     string `name:"join-token-file" help:"File holding the join token a new host trades for its certificate at first start (or DIST_JOIN_TOKEN); trust the controller with --ca-file or --ca-fingerprint." env:"DIST_JOIN_TOKEN_FILE" type:"path" placeholder:"FILE"`
	Store             string `help:"Controller role: where the controller keeps its state: sqlite:PATH, or postgres://USER@HOST:PORT/DB shared by several controllers, its password in PGPASSWORD or PGPASSFILE, never here (default: SQLite in --data)." env:"DIST_STORE" placeholder:"URL"`
	StoreFile         string `name:"store-file" help:"Controller role: file holding the --store URL, password included (instead of --store)." env:"DIST_STORE_FILE" type:"path" placeholder:"FILE"`
	RequireApproval   bool   `name:"require-approval" help:"Controller role: a host joined with a join token takes no part until an admin approves it (dist hosts approve NAME)." env:"DIST_REQUIRE_APPROVAL"`
	InsecurePlainHTTP bool   `name:"insecure-plain-http" help:"INSECURE, labs only: serve and speak plain HTTP without certificates; hosts authenticate with the shared host token, anyone on the network reads and rewrites everything." env:"DIST_INSECURE_PLAIN_HTTP"`
}

// Run starts the daemon and blocks until SIGINT/SIGTERM; a stop by signal is a clean exit.
func (c *DaemonCmd) Run(g *Globals) error {
	cfg, err := c.config(g)
	if err != nil {
		return err
	}
	ctx := g.Context()
	err = daemon.Run(ctx, cfg)
	if err != nil && ctx.Err() != nil && errors.Is(err, context.Canceled) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("daemon: %w", err)
	}
	return nil
}

// config turns flags into daemon.Config. Empty fields are left for the daemon to default.
func (c *DaemonCmd) config(g *Globals) (daemon.Config, error) {
	var roles []api.Role
	for _, r := range api.RolesFrom(c.Role) {
		if !slices.Contains(roles, r) {
			roles = append(roles, r)
		}
	}
	if len(roles) == 0 {
		return daemon.Config{}, usageError{errors.New("--role needs at least one of controller, relay, client")}
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return daemon.Config{}, usageError{fmt.Errorf("--log-level: %w", err)}
	}
	cfg := daemon.Config{
		Roles:      roles,
		Listen:     c.Listen,
		Advertise:  c.Advertise,
		BTListen:   c.BTListen,
		Data:       c.Data,
		Token:      g.Token,
		AdminToken: c.AdminToken,
		HostToken:  c.HostToken,
		Name:       c.Name,
		Labels:     c.Label,
		ReadyFile:  c.ReadyFile,
		Logger:     slog.New(slog.NewTextHandler(g.Err, &slog.HandlerOptions{Level: level})),

		BTBlocked:           c.BTBlocked,
		NoExchange:          c.NoExchange,
		BTDownloadRate:      int64(c.BTDownloadRate),
		BTUploadRate:        int64(c.BTUploadRate),
		AllowUnleasedOrigin: c.AllowUnleasedOrigin,
		PluginDir:           c.PluginDir,
		DestRoots:           c.DestRoot,
		RelayPolicy:         c.RelayPolicy,
	}
	cfg.InsecurePlainHTTP = c.InsecurePlainHTTP
	cfg.RequireApproval = c.RequireApproval
	spec, err := store.ResolveSpec(c.Store, c.StoreFile)
	if err != nil {
		return daemon.Config{}, usageError{err}
	}
	cfg.Store = spec
	cfg.CAFile, cfg.CAFingerprint = g.CAFile, g.CAFP
	cfg.JoinToken = strings.TrimSpace(os.Getenv("DIST_JOIN_TOKEN"))
	if c.JoinTokenFile != "" {
		b, err := os.ReadFile(c.JoinTokenFile)
		if err != nil {
			return daemon.Config{}, fmt.Errorf("join token file: %w", err)
		}
		cfg.JoinToken = strings.TrimSpace(string(b))
	}
	if set, err := c.Hybrid.settings(); err != nil {
		return daemon.Config{}, err
	} else if set != nil {
		cfg.Hybrid = *set
	}
	// A controller talks to itself unless told otherwise; other roles need one, and the default
	// URL is as good a guess as any.
	if g.IsSet("controller") || !slices.Contains(roles, api.RoleController) {
		cfg.Controller, cfg.Controllers = g.controllerList(), api.SplitURLs(g.Controller...)
	}
	// The daemon puts its socket in its data directory; the global default only fits the default
	// data directory.
	if g.IsSet("socket") {
		cfg.Socket = g.Socket
	}
	cfg.SocketGroup = c.SocketGroup
	return cfg, nil
}
