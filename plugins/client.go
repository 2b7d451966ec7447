package plugins

import (
	"context"
	"fmt"
	"log/slog"
	"os/exec"
	"time"

	"github.com/hashicorp/go-plugin"

	pb "dist/plugins/proto"
)

// StartTimeout bounds how long a plugin may take to start and answer PluginInfo.
const StartTimeout = 20 * time.Second

// Client is a started plugin, seen from the daemon.
type Client struct {
	Info Info
	Path string

	pc   *plugin.Client // nil when connected in-process (tests)
	rpc  plugin.ClientProtocol
	base pb.BaseClient
}

// clientSet is every type the daemon can dispense; a plugin serves base and its own type.
func clientSet() plugin.PluginSet {
	return plugin.PluginSet{
		setBase:        &basePlugin{},
		setOriginIO:    &originIOPlugin{},
		setRelayPolicy: &relayPolicyPlugin{},
	}
}

// Start runs the plugin executable at path, connects over gRPC with mutual TLS, and agrees on an
// API version. The plugin's log lines go to log. Kill stops it.
func Start(ctx context.Context, path string, log *slog.Logger) (*Client, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	pc := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  Handshake,
		Plugins:          clientSet(),
		Cmd:              exec.Command(path),
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		StartTimeout:     StartTimeout,
		Logger:           hclogToSlog(log, "plugin"),
	})
	rpc, err := pc.Client()
	if err != nil {
		pc.Kill()
		return nil, fmt.Errorf("start plugin %s: %w", path, err)
	}
	c, err := connect(ctx, rpc)
	if err != nil {
		pc.Kill()
		return nil, fmt.Errorf("start plugin %s: %w", path, err)
	}
	c.pc, c.Path = pc, path
	return c, nil
}

// connect asks a connected plugin for its info. Tests call it over plugin.TestPluginGRPCConn.
func connect(ctx context.Context, rpc plugin.ClientProtocol) (*Client, error) {
	raw, err := rpc.Dispense(setBase)
	if err != nil {
		return nil, fmt.Errorf("plugin base service: %w", err)
	}
	base := raw.(pb.BaseClient)
	ictx, cancel := context.WithTimeout(ctx, StartTimeout)
	defer cancel()
	info, err := fetchInfo(ictx, base)
	if err != nil {
		return nil, err
	}
	return &Client{Info: info, rpc: rpc, base: base}, nil
}

// Health asks the plugin whether it is well; the answer is free text.
func (c *Client) Health(ctx context.Context) (string, error) {
	r, err := c.base.Health(ctx, &pb.HealthRequest{})
	if err != nil {
		return "", fmt.Errorf("health of plugin %s: %w", c.Info.Name, rpcError(err))
	}
	return r.GetStatus(), nil
}

// OriginIO answers the plugin as an origin-IO plugin, or an error when it is of another type.
func (c *Client) OriginIO() (*OriginIOClient, error) {
	if c.Info.Type != TypeOriginIO {
		return nil, fmt.Errorf("plugin %s is a %s plugin, not %s", c.Info.Name, c.Info.Type, TypeOriginIO)
	}
	raw, err := c.rpc.Dispense(setOriginIO)
	if err != nil {
		return nil, fmt.Errorf("plugin %s: %w", c.Info.Name, err)
	}
	return raw.(*OriginIOClient), nil
}

// RelayPolicy answers the plugin as a relay policy, or an error when it is of another type.
func (c *Client) RelayPolicy() (*RelayPolicyClient, error) {
	if c.Info.Type != TypeRelayPolicy {
		return nil, fmt.Errorf("plugin %s is a %s plugin, not %s", c.Info.Name, c.Info.Type, TypeRelayPolicy)
	}
	raw, err := c.rpc.Dispense(setRelayPolicy)
	if err != nil {
		return nil, fmt.Errorf("plugin %s: %w", c.Info.Name, err)
	}
	p := raw.(*RelayPolicyClient)
	p.name = c.Info.Name
	return p, nil
}

// Exited reports whether the plugin process has stopped (crashed or killed).
func (c *Client) Exited() bool {
	if c.pc == nil {
		return false
	}
	return c.pc.Exited()
}

// Pid is the plugin's process id, 0 in-process.
func (c *Client) Pid() int {
	if c.pc == nil {
		return 0
	}
	if rc := c.pc.ReattachConfig(); rc != nil {
		return rc.Pid
	}
	return 0
}

// Kill stops the plugin (gracefully first) and closes the connection.
func (c *Client) Kill() {
	if c.pc != nil {
		c.pc.Kill()
		return
	}
	c.rpc.Close()
}
