// Package sitepolicy is the relay-policy plugin that places relays by network: a map file names
// the site of each CIDR, every host's site is the one its address falls in, and each site's
// targets get relays from their own site. Targets whose site has no relay share the least loaded
// of the rest.
//
// Map file: one "CIDR SITE" per line; '#' starts a comment; the most specific CIDR wins.
package sitepolicy

import (
	"bufio"
	"cmp"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strings"

	"dist/core/selection"
)

// Name is the plugin's name.
const Name = "sitepolicy"

// MapEnv names the map file; without it the plugin reads dist-plugin-sitepolicy.map beside
// its executable.
const MapEnv = "DIST_SITEPOLICY_MAP"

// Policy implements plugins.RelayPolicy over a CIDR → site map.
type Policy struct {
	sites []site // most specific first
}

type site struct {
	prefix netip.Prefix
	name   string
}

// Load reads a map file.
func Load(path string) (*Policy, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("site map: %w", err)
	}
	defer f.Close()
	p, err := Parse(f)
	if err != nil {
		return nil, fmt.Errorf("site map %s: %w", path, err)
	}
	return p, nil
}

// Parse reads a map from r.
func Parse(r io.Reader) (*Policy, error) {
	p := &Policy{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "#")
		fs := strings.Fields(line)
		if len(fs) == 0 {
			continue
		}
		if len(fs) != 2 {
			return nil, fmt.Errorf("line %d: want \"CIDR SITE\", got %q", n, strings.TrimSpace(line))
		}
		pre, err := netip.ParsePrefix(fs[0])
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		p.sites = append(p.sites, site{prefix: pre.Masked(), name: fs[1]})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	slices.SortStableFunc(p.sites, func(a, b site) int { return cmp.Compare(b.prefix.Bits(), a.prefix.Bits()) })
	return p, nil
}

// Site answers the site of addr ("" when no CIDR holds it).
func (p *Policy) Site(addr netip.Addr) string {
	addr = addr.Unmap()
	for _, s := range p.sites {
		if s.prefix.Contains(addr) {
			return s.name
		}
	}
	return ""
}

// hostSite finds a host's site from its BitTorrent or HTTP address.
func (p *Policy) hostSite(btAddr, httpURL string) string {
	for _, a := range []string{btAddr, urlHost(httpURL)} {
		if a == "" {
			continue
		}
		h := a
		if hh, _, err := net.SplitHostPort(a); err == nil {
			h = hh
		}
		if ip, err := netip.ParseAddr(h); err == nil {
			if s := p.Site(ip); s != "" {
				return s
			}
		}
	}
	return ""
}

func urlHost(u string) string {
	if pu, err := url.Parse(u); err == nil {
		return pu.Host
	}
	return ""
}

// ChooseRelays implements plugins.RelayPolicy: each site's targets form a group served by
// relays of the same site (about req.Count spread by each site's share of targets, at least
// one); targets of sites without relays are grouped as "elsewhere".
func (p *Policy) ChooseRelays(_ context.Context, req selection.Request) ([]selection.Group, error) {
	if len(req.Candidates) == 0 || len(req.Targets) == 0 {
		return nil, nil
	}
	bySite := map[string][]selection.Candidate{}
	for _, c := range req.Candidates {
		s := p.hostSite(c.Host.BTAddr, c.Host.HTTPURL)
		bySite[s] = append(bySite[s], c)
	}
	var order []string
	targets := map[string][]string{}
	for _, t := range req.Targets {
		s := p.hostSite(t.BTAddr, t.HTTPURL)
		if s == "" || len(bySite[s]) == 0 {
			s = ""
		}
		if _, ok := targets[s]; !ok {
			order = append(order, s)
		}
		targets[s] = append(targets[s], t.Name)
	}
	// Sites with relays of their own choose first; "elsewhere" takes from what is left.
	slices.SortFunc(order, func(a, b string) int {
		if (a == "") != (b == "") {
			return cmp.Compare(boolInt(a == ""), boolInt(b == ""))
		}
		return strings.Compare(a, b)
	})
	want := max(req.Count, 1)
	used := map[string]bool{}
	var groups []selection.Group
	for _, s := range order {
		n := max(1, want*len(targets[s])/len(req.Targets))
		pool := bySite[s]
		name := s
		if s == "" {
			pool, name = req.Candidates, "elsewhere"
		}
		groups = append(groups, selection.Group{Name: name, Targets: targets[s], Relays: pick(pool, req.History, used, n)})
	}
	return groups, nil
}

// pick takes n relays from pool: fewest failures, then least loaded, then by name; a relay
// already serving another group is taken only when nothing else is left.
func pick(pool []selection.Candidate, hist map[string]selection.History, used map[string]bool, n int) []string {
	sorted := slices.Clone(pool)
	slices.SortStableFunc(sorted, func(a, b selection.Candidate) int {
		if c := cmp.Compare(boolInt(used[a.Host.Name]), boolInt(used[b.Host.Name])); c != 0 {
			return c
		}
		if c := cmp.Compare(hist[a.Host.Name].Failed, hist[b.Host.Name].Failed); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Active, b.Active); c != 0 {
			return c
		}
		return cmp.Compare(a.Host.Name, b.Host.Name)
	})
	var out []string
	for _, c := range sorted {
		if len(out) == n {
			break
		}
		if !slices.Contains(out, c.Host.Name) {
			out = append(out, c.Host.Name)
			used[c.Host.Name] = true
		}
	}
	return out
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
