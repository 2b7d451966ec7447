package plugins

import (
	"context"
	"fmt"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"dist/core/api"
	"dist/core/selection"
	pb "dist/plugins/proto"
)

// RelayPolicy is what a relay-policy plugin implements: the relays per group of targets, from
// the same facts the built-in policy (selection.Builtin) sees.
type RelayPolicy interface {
	ChooseRelays(ctx context.Context, req selection.Request) ([]selection.Group, error)
}

type relayPolicyPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	impl RelayPolicy
}

func (p *relayPolicyPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	pb.RegisterRelayPolicyServer(s, &relayPolicyServer{impl: p.impl})
	return nil
}

func (p *relayPolicyPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return &RelayPolicyClient{c: pb.NewRelayPolicyClient(c)}, nil
}

type relayPolicyServer struct {
	pb.UnimplementedRelayPolicyServer
	impl RelayPolicy
}

func (s *relayPolicyServer) ChooseRelays(ctx context.Context, r *pb.ChooseRelaysRequest) (*pb.ChooseRelaysResponse, error) {
	groups, err := s.impl.ChooseRelays(ctx, requestFromPB(r))
	if err != nil {
		return nil, err
	}
	out := &pb.ChooseRelaysResponse{}
	for _, g := range groups {
		out.Groups = append(out.Groups, &pb.RelayGroup{Name: g.Name, Targets: g.Targets, Relays: g.Relays})
	}
	return out, nil
}

// RelayPolicyClient is the daemon's side of a relay-policy plugin. It implements
// selection.Policy once named (see Client.RelayPolicy).
type RelayPolicyClient struct {
	c    pb.RelayPolicyClient
	name string
}

// Name implements selection.Policy.
func (c *RelayPolicyClient) Name() string { return "plugin " + c.name }

// ChooseRelays implements selection.Policy. The answer is checked: a plugin naming hosts that
// are not candidates gets an error, not relays.
func (c *RelayPolicyClient) ChooseRelays(ctx context.Context, req selection.Request) ([]selection.Group, error) {
	r, err := c.c.ChooseRelays(ctx, requestToPB(req))
	if err != nil {
		return nil, fmt.Errorf("choose relays: %w", rpcError(err))
	}
	groups := make([]selection.Group, 0, len(r.GetGroups()))
	for _, g := range r.GetGroups() {
		groups = append(groups, selection.Group{Name: g.GetName(), Targets: g.GetTargets(), Relays: g.GetRelays()})
	}
	if err := selection.CheckGroups(req, groups); err != nil {
		return nil, fmt.Errorf("choose relays: plugin answer refused: %w", err)
	}
	return groups, nil
}

func hostToPB(h api.Host) *pb.Host {
	return &pb.Host{Name: h.Name, Labels: h.Labels, Roles: api.RoleNames(h.Roles), HttpUrl: h.HTTPURL, BtAddr: h.BTAddr}
}

func hostFromPB(h *pb.Host) api.Host {
	return api.Host{Name: h.GetName(), Labels: h.GetLabels(), Roles: api.RolesFrom(h.GetRoles()), HTTPURL: h.GetHttpUrl(), BTAddr: h.GetBtAddr()}
}

func requestToPB(req selection.Request) *pb.ChooseRelaysRequest {
	d := req.Dist
	out := &pb.ChooseRelaysRequest{
		Distribution: &pb.Distribution{Id: d.ID, Name: d.Name, Size: d.Size, Source: d.Source, Publisher: d.Publisher},
		Count:        int64(req.Count),
	}
	for _, t := range req.Targets {
		out.Targets = append(out.Targets, hostToPB(t))
	}
	for _, c := range req.Candidates {
		h := req.History[c.Host.Name]
		out.Candidates = append(out.Candidates, &pb.Candidate{Host: hostToPB(c.Host), Active: int64(c.Active), Done: int64(h.Done), Failed: int64(h.Failed)})
	}
	return out
}

func requestFromPB(r *pb.ChooseRelaysRequest) selection.Request {
	d := r.GetDistribution()
	req := selection.Request{
		Dist:    api.Distribution{ID: d.GetId(), Name: d.GetName(), Size: d.GetSize(), Source: d.GetSource(), Publisher: d.GetPublisher()},
		Count:   int(r.GetCount()),
		History: map[string]selection.History{},
	}
	for _, t := range r.GetTargets() {
		req.Targets = append(req.Targets, hostFromPB(t))
	}
	for _, c := range r.GetCandidates() {
		h := hostFromPB(c.GetHost())
		req.Candidates = append(req.Candidates, selection.Candidate{Host: h, Active: int(c.GetActive())})
		req.History[h.Name] = selection.History{Done: int(c.GetDone()), Failed: int(c.GetFailed())}
	}
	return req
}
