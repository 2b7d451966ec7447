package plugins

import (
	"context"
	"fmt"
	"slices"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	pb "dist/plugins/proto"
)

// HealthChecker may be implemented by a plugin to say more than "ok" to `dist plugin check`.
type HealthChecker interface {
	Health(ctx context.Context) (string, error)
}

// basePlugin serves PluginInfo and Health beside the plugin's type service.
type basePlugin struct {
	plugin.NetRPCUnsupportedPlugin
	info Info
	impl any // asked for HealthChecker
}

func (p *basePlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	pb.RegisterBaseServer(s, &baseServer{info: p.info, impl: p.impl})
	return nil
}

func (p *basePlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return pb.NewBaseClient(c), nil
}

type baseServer struct {
	pb.UnimplementedBaseServer
	info Info
	impl any
}

func (s *baseServer) PluginInfo(context.Context, *pb.PluginInfoRequest) (*pb.PluginInfoResponse, error) {
	vs := s.info.APIVersions
	if len(vs) == 0 {
		vs = APIVersions
	}
	return &pb.PluginInfoResponse{Name: s.info.Name, Type: s.info.Type, Version: s.info.Version, ApiVersions: vs}, nil
}

func (s *baseServer) Health(ctx context.Context, _ *pb.HealthRequest) (*pb.HealthResponse, error) {
	hc, ok := s.impl.(HealthChecker)
	if !ok {
		return &pb.HealthResponse{Status: "ok"}, nil
	}
	st, err := hc.Health(ctx)
	if err != nil {
		return nil, err
	}
	return &pb.HealthResponse{Status: st}, nil
}

// fetchInfo asks a plugin who it is and agrees on an API version.
func fetchInfo(ctx context.Context, c pb.BaseClient) (Info, error) {
	r, err := c.PluginInfo(ctx, &pb.PluginInfoRequest{ApiVersions: APIVersions})
	if err != nil {
		return Info{}, fmt.Errorf("plugin info: %w", err)
	}
	info := Info{Name: r.GetName(), Type: r.GetType(), Version: r.GetVersion(), APIVersions: slices.Clone(r.GetApiVersions())}
	switch info.Type {
	case TypeOriginIO, TypeRelayPolicy:
	default:
		return info, fmt.Errorf("plugin info: unknown plugin type %q", info.Type)
	}
	v, err := Negotiate(APIVersions, info.APIVersions)
	if err != nil {
		return info, err
	}
	info.APIVersion = v
	return info, nil
}
