package cli

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"dist/core/api"
	"dist/daemon/controller"
)

// HostsCmd lists the hosts known to the controller, and approves, denies or revokes them.
type HostsCmd struct {
	Ls      HostsLsCmd      `cmd:"" default:"withargs" help:"List the hosts known to the controller (the default)."`
	Approve HostsApproveCmd `cmd:"" help:"Approve hosts that wait for approval (--require-approval): they take part from now on (admin)."`
	Deny    HostsDenyCmd    `cmd:"" help:"Deny a host: its certificates are refused, it joins again only with a new join token (admin)."`
	Revoke  HostsRevokeCmd  `cmd:"" help:"Revoke a host's certificates: refused at once, dropped from peers and relays; it joins again only with a new join token (admin)."`
}

// HostsLsCmd lists the hosts.
type HostsLsCmd struct{}

// Run prints the hosts as a table, or as the API's JSON array. The ACCESS column shows only when
// a host waits for approval, was denied or revoked.
func (c *HostsLsCmd) Run(g *Globals) error {
	hs, err := g.API().Hosts(g.Context())
	if err != nil {
		return fmt.Errorf("list hosts: %w", err)
	}
	if g.JSON {
		if hs == nil {
			hs = []api.Host{}
		}
		return g.PrintJSON(hs)
	}
	access := slices.ContainsFunc(hs, func(h api.Host) bool { return h.Access != "" })
	cols := []string{"NAME", "ROLES", "ONLINE", "LAST-SEEN", "HTTP", "BT", "LABELS"}
	if access {
		cols = slices.Insert(cols, 3, "ACCESS")
	}
	now := time.Now()
	t := newTable(cols...)
	for _, h := range hs {
		online := "no"
		if h.Online {
			online = "yes"
		}
		row := []string{h.Name, strings.Join(api.RoleNames(h.Roles), ","), online, formatAge(h.LastSeen, now), orDash(h.HTTPURL), orDash(h.BTAddr), labels(h.Labels)}
		if access {
			row = slices.Insert(row, 3, orDash(h.Access))
		}
		t.add(row...)
		t.style(2, stateStyle(online))
	}
	return t.write(g.Out, g.OutColor())
}

// HostsApproveCmd approves hosts.
type HostsApproveCmd struct {
	Names []string `arg:"" name:"name" help:"Hosts to approve, as dist hosts lists them." placeholder:"NAME"`
}

// Run approves each host in turn; every one is tried, and the failures are reported together.
func (c *HostsApproveCmd) Run(g *Globals) error {
	var errs []error
	for _, name := range c.Names {
		d, err := hostDecision(g, name, "approve")
		if err != nil {
			errs = append(errs, fmt.Errorf("approve host %s: %w", name, err))
			continue
		}
		if err := printDecision(g, d, "approved: it takes part from now on"); err != nil {
			return err
		}
	}
	return errors.Join(errs...)
}

// HostsDenyCmd denies a host.
type HostsDenyCmd struct {
	Name string `arg:"" help:"Host to deny." placeholder:"NAME"`
}

// Run denies the host.
func (c *HostsDenyCmd) Run(g *Globals) error {
	d, err := hostDecision(g, c.Name, "deny")
	if err != nil {
		return fmt.Errorf("deny host %s: %w", c.Name, err)
	}
	return printDecision(g, d, "denied: its certificates are refused; it joins again only with a new join token")
}

// HostsRevokeCmd revokes a host's certificates.
type HostsRevokeCmd struct {
	Name string `arg:"" help:"Host whose certificates to revoke." placeholder:"NAME"`
}

// Run revokes the host's certificates.
func (c *HostsRevokeCmd) Run(g *Globals) error {
	d, err := hostDecision(g, c.Name, "revoke")
	if err != nil {
		return fmt.Errorf("revoke host %s: %w", c.Name, err)
	}
	return printDecision(g, d, "revoked: its certificates are refused; it joins again only with a new join token (dist token create --role join)")
}

func hostDecision(g *Globals, name, what string) (controller.HostDecision, error) {
	var d controller.HostDecision
	err := g.API().Do(g.Context(), http.MethodPost, "/v1/hosts/"+url.PathEscape(name)+"/"+what, nil, &d)
	return d, err
}

func printDecision(g *Globals, d controller.HostDecision, what string) error {
	if g.JSON {
		return g.PrintJSON(d)
	}
	_, err := fmt.Fprintf(g.Out, "host %s %s\n", d.Host, what)
	return err
}

// labels renders a label set as sorted key=value pairs.
func labels(m map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, k+"="+m[k])
	}
	return strings.Join(parts, ",")
}
