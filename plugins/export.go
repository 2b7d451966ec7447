package plugins

import (
	"context"

	"github.com/hashicorp/go-plugin"
)

// ServerSet is the plugin set a plugin of impl's type serves (what ServeOriginIO and
// ServeRelayPolicy run). With plugin.TestPluginGRPCConn and Connect it runs a plugin in-process,
// which is how plugin authors test theirs (see plugins/README.md).
func ServerSet(info Info, impl any) plugin.PluginSet {
	set := plugin.PluginSet{}
	switch i := impl.(type) {
	case OriginIO:
		info.Type = TypeOriginIO
		set[setOriginIO] = &originIOPlugin{impl: i}
	case RelayPolicy:
		info.Type = TypeRelayPolicy
		set[setRelayPolicy] = &relayPolicyPlugin{impl: i}
	}
	set[setBase] = &basePlugin{info: info, impl: impl}
	return set
}

// Connect is the daemon's side over an established plugin connection (in-process tests).
func Connect(ctx context.Context, rpc plugin.ClientProtocol) (*Client, error) {
	return connect(ctx, rpc)
}
