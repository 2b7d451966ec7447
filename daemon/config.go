// Package daemon is the running process: it wires the roles a host holds (controller, relay,
// client), serves the controller API, the content and the LocalAPI, and runs the tasks.
package daemon

import (
	"log/slog"

	"dist/core/api"
)

// Config is everything a daemon needs; the CLI fills it from file < env < flags.
type Config struct {
	Roles      []string          // controller, relay, client (any combination)
	Listen     string            // HTTP listen address, e.g. ":7700" or "127.0.0.1:0"
	Advertise  string            // base URL others use to reach our HTTP; default derived from Listen
	BTListen   string            // BitTorrent listen address, e.g. ":6881" or "127.0.0.1:0"
	Data       string            // data directory (database, partial files, finished files)
	Controller string            // controller base URL; default: ourselves when we hold the controller role
	Token      string            // host token presented to the controller
	AdminToken string            // controller: token accepted for operators and scripts
	HostToken  string            // controller: token accepted from daemons; default: Token
	Name       string            // host name; default: os.Hostname()
	Labels     map[string]string // e.g. site=ams1
	Socket     string            // LocalAPI unix socket; default: <Data>/dist.sock
	ReadyFile  string            // when set, a JSON object {"http_url","bt_addr","socket"} is written here once serving
	Logger     *slog.Logger

	// Hybrid download defaults of this host; a push's settings override them field by field.
	Hybrid api.Settings
	// BTBlocked runs the client without any BitTorrent connection, as on a network that blocks P2P.
	BTBlocked bool
	// BTDownloadRate and BTUploadRate cap the BitTorrent traffic of the host (bytes/s, 0 = no cap).
	BTDownloadRate, BTUploadRate int64
	// AllowUnleasedOrigin lets clients fetch pieces from the origin without a controller lease.
	AllowUnleasedOrigin bool
	// PluginDir is where dist-plugin-NAME executables are found; "" → plugins.DefaultDirs.
	PluginDir string
	// RelayPolicy names the controller's relay-policy plugin; "" → the built-in policy.
	RelayPolicy string
}
