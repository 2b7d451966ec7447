// Package plugins is the SDK for dist plugins: executables named dist-plugin-NAME that the daemon
// starts on demand and talks to over gRPC (hashicorp/go-plugin, mutual TLS on every connection).
//
// A plugin has one type: TypeOriginIO reads and writes storage the daemon cannot open itself (a
// raw partition), TypeRelayPolicy chooses the relays of a distribution by an organisation's own
// rules. A plugin's main calls ServeOriginIO or ServeRelayPolicy; the daemon side is Start and the
// Client it returns. See plugins/README.md for a plugin author's guide.
package plugins

import (
	"fmt"
	"slices"

	"github.com/hashicorp/go-plugin"
)

// Plugin types, as PluginInfo reports them.
const (
	TypeOriginIO    = "origin_io"
	TypeRelayPolicy = "relay_policy"
)

// APIVersions are the versions of the plugin API this build speaks, oldest first. The daemon and
// a plugin use the highest version both speak; a change that is not a compatible addition to
// plugin.proto adds a version.
var APIVersions = []uint32{1}

// Prefix starts the file name of every plugin executable: dist-plugin-NAME.
const Prefix = "dist-plugin-"

// Handshake keeps dist from starting a plugin of another program (and a plugin from being run by
// hand). Its protocol version is the transport's; API versions are negotiated over PluginInfo.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  1,
	MagicCookieKey:   "DIST_PLUGIN",
	MagicCookieValue: "b7f3c1d0-dist-plugin",
}

// Info describes a plugin.
type Info struct {
	Name        string   `json:"name"`
	Type        string   `json:"type"`
	Version     string   `json:"version"`
	APIVersions []uint32 `json:"api_versions"`
	// APIVersion is the version agreed with this daemon (set by the daemon side, 0 in a plugin).
	APIVersion uint32 `json:"api_version,omitempty"`
}

// Negotiate answers the highest API version both sides speak.
func Negotiate(ours, theirs []uint32) (uint32, error) {
	best := uint32(0)
	for _, v := range theirs {
		if slices.Contains(ours, v) && v > best {
			best = v
		}
	}
	if best == 0 {
		return 0, fmt.Errorf("plugin speaks API versions %v, this dist speaks %v: install a matching plugin or dist", theirs, ours)
	}
	return best, nil
}

// The names the plugin set is dispensed under. Base is served by every plugin.
const (
	setBase        = "base"
	setOriginIO    = TypeOriginIO
	setRelayPolicy = TypeRelayPolicy
)
