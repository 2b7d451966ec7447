package plugins

import (
	"log/slog"
	"os"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
)

// ServeOriginIO runs an origin-IO plugin until the daemon stops it. Call it from main.
func ServeOriginIO(info Info, impl OriginIO) {
	serve(info, ServerSet(info, impl))
}

// ServeRelayPolicy runs a relay-policy plugin until the daemon stops it. Call it from main.
func ServeRelayPolicy(info Info, impl RelayPolicy) {
	serve(info, ServerSet(info, impl))
}

func serve(info Info, set plugin.PluginSet) {
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: Handshake,
		Plugins:         set,
		GRPCServer:      plugin.DefaultGRPCServer,
		Logger:          hclog.New(&hclog.LoggerOptions{Name: info.Name, Level: hclog.Trace, JSONFormat: true, Output: os.Stderr}),
	})
}

// Logger is the log a plugin writes with: JSON lines on stderr in the form the daemon reads back
// into its own log, with the plugin's name on every record.
func Logger() *slog.Logger {
	h := slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{
		Level: slog.LevelDebug,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) > 0 {
				return a
			}
			switch a.Key {
			case slog.TimeKey:
				return slog.String("@timestamp", a.Value.Time().Format(hclogTime))
			case slog.LevelKey:
				return slog.String("@level", levelName(a.Value.Any().(slog.Level)))
			case slog.MessageKey:
				return slog.String("@message", a.Value.String())
			}
			return a
		},
	})
	return slog.New(h)
}

// hclogTime is the timestamp layout go-plugin parses from a plugin's JSON log lines.
const hclogTime = "2006-01-02T15:04:05.000000Z07:00"

func levelName(l slog.Level) string {
	switch {
	case l < slog.LevelInfo:
		return "debug"
	case l < slog.LevelWarn:
		return "info"
	case l < slog.LevelError:
		return "warn"
	}
	return "error"
}
