// Package daemon is the running process: it holds the daemon's configuration with its defaults,
// starts and stops the listeners and the roles a host holds (controller, relay, client) under one
// group, and keeps the controller's tokens. What each role does lives in its own package: agent
// (the conversation with the controller), task, relay, client, assist, serve (content over HTTP),
// publish, local (the LocalAPI), pluginhost, origingate and metrics. ARCHITECTURE.md draws the
// path of a byte through them.
package daemon

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"dist/core/api"
	"dist/core/pki"
	"dist/daemon/assist"
)

// Defaults of Config, in one place (the CLI shows them in its help).
const (
	DefaultListen   = ":7700"
	DefaultBTListen = ":6881"
)

// NetworkLabel is the host label that names its network type for the assist threshold.
const NetworkLabel = assist.NetworkLabel

// Version of the daemon, reported to the controller; set by the CLI.
var Version = "dev"

// Config is everything a daemon needs; the CLI fills it from file < env < flags.
type Config struct {
	Roles      []api.Role        // controller, relay, client (any combination)
	Listen     string            // HTTP listen address, e.g. ":7700" or "127.0.0.1:0"
	Advertise  string            // base URL others use to reach our HTTP; default derived from Listen
	BTListen   string            // BitTorrent listen address, e.g. ":6881" or "127.0.0.1:0"
	Data       string            // data directory (database, partial files, finished files)
	Store      string            // controller: "" (SQLite in Data), sqlite:PATH or postgres://… (store.OpenSpec)
	Controller string            // controller base URL, comma-separated for several; Controllers wins when set
	Token      string            // host token presented to the controller in plain HTTP (not used by a controller host)
	AdminToken string            // controller: token accepted for operators and scripts
	HostToken  string            // controller: token accepted from daemons; default: <Data>/host.token
	Name       string            // host name; default: os.Hostname()
	Labels     map[string]string // e.g. site=ams1
	Socket     string            // LocalAPI unix socket; default: <Data>/dist.sock
	// SocketGroup, a group name or id, makes the LocalAPI socket 0660 with that group so that
	// its members may use the CLI; default: 0600, the daemon's user and root only.
	SocketGroup string
	ReadyFile   string // when set, a JSON object {"http_url","bt_addr","socket"} is written here once serving
	Logger      *slog.Logger

	// Controllers are the base URLs of the controllers sharing one database, tried in order:
	// the host carries on through another when one is not there. fill sets it from Controller
	// when empty, and Controller to its first; default: ourselves when we hold the controller role.
	Controllers []string

	// Hybrid download defaults of this host; a push's settings override them field by field.
	Hybrid api.Settings
	// BTBlocked runs the client without any BitTorrent connection, as on a network that blocks P2P.
	BTBlocked bool
	// NoExchange keeps the client out of the piece exchange over HTTP that runs while a relay
	// pulls (stripes from the relay, the rest from peers): BitTorrent and the assist only.
	NoExchange bool
	// BTDownloadRate and BTUploadRate cap the BitTorrent traffic of the host (bytes/s, 0 = no cap).
	BTDownloadRate, BTUploadRate int64
	// AllowUnleasedOrigin lets clients fetch pieces from the origin without a controller lease.
	AllowUnleasedOrigin bool
	// DestRoots are where pushes may put files on this host (absolute paths, device URI
	// prefixes); a push naming another destination fails at once. Default: <Data>/files.
	DestRoots []string
	// PluginDir is where dist-plugin-NAME executables are found; "" → plugins.DefaultDirs.
	PluginDir string
	// RelayPolicy names the controller's relay-policy plugin; "" → the built-in policy.
	RelayPolicy string

	// InsecurePlainHTTP serves and speaks plain HTTP, as before TLS: no certificates, hosts
	// authenticate with the shared host token. For labs only.
	InsecurePlainHTTP bool
	// JoinToken is traded once for the host certificate (POST /v1/join) when <Data>/tls holds
	// none; the controller's host token is one.
	JoinToken string
	// CAFile and CAFingerprint say how a joining host trusts its controller: the CA certificate,
	// or the CA's "sha256:<hex>" fingerprint checked against the chain the controller presents.
	// Once joined the host keeps the CA in <Data>/tls/ca.crt.
	CAFile, CAFingerprint string
	// RequireApproval (controller) keeps a host joined by a join token out of every
	// distribution until an operator approves it (dist hosts approve).
	RequireApproval bool
}

func (c *Config) fill() error {
	if len(c.Roles) == 0 {
		return errors.New("no role given: use --role controller, relay, client or a combination")
	}
	for _, r := range c.Roles {
		switch r {
		case api.RoleController, api.RoleRelay, api.RoleClient:
		default:
			return fmt.Errorf("unknown role %q: use controller, relay or client", r)
		}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Name == "" {
		h, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("host name: %w (set --name)", err)
		}
		c.Name = h
	}
	if c.Data == "" {
		return errors.New("no data directory: set --data")
	}
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.BTListen == "" {
		c.BTListen = DefaultBTListen
	}
	if c.Socket == "" {
		c.Socket = filepath.Join(c.Data, "dist.sock")
	}
	if len(c.Controllers) == 0 {
		c.Controllers = api.SplitURLs(c.Controller)
	} else {
		c.Controllers = api.SplitURLs(c.Controllers...)
	}
	if len(c.Controllers) > 0 {
		c.Controller = c.Controllers[0]
	}
	if !c.has(api.RoleController) && len(c.Controllers) == 0 {
		return errors.New("no controller: set --controller URL, once per controller (or hold the controller role)")
	}
	if c.InsecurePlainHTTP {
		if !c.has(api.RoleController) && c.Token == "" {
			return errors.New("no host token: set DIST_TOKEN or --token-file (the controller's host token)")
		}
		return nil
	}
	if c.Advertise != "" && !strings.HasPrefix(c.Advertise, "https://") {
		return fmt.Errorf("advertise URL %s: the daemon serves HTTPS, give https://… (or run with --insecure-plain-http)", c.Advertise)
	}
	for _, u := range c.Controllers {
		if !strings.HasPrefix(u, "https://") {
			return fmt.Errorf("controller URL %s is not https://: use https://… (or run every daemon with --insecure-plain-http)", u)
		}
	}
	if c.CAFingerprint != "" {
		fp, err := pki.ParseFingerprint(c.CAFingerprint)
		if err != nil {
			return err
		}
		c.CAFingerprint = fp
	}
	return nil
}

func (c *Config) has(role api.Role) bool { return slices.Contains(c.Roles, role) }
