package selection

import (
	"context"
	"fmt"

	"dist/core/api"
)

// Policy chooses the relays of one distribution. The built-in one is Builtin; an organisation's
// own rules come in as a relay-policy plugin (dist/plugins) behind the same interface.
type Policy interface {
	// Name names the policy in logs and events.
	Name() string
	// ChooseRelays answers the relays per group of targets. Every relay must be one of
	// req.Candidates and every target one of req.Targets; CheckGroups enforces it.
	ChooseRelays(ctx context.Context, req Request) ([]Group, error)
}

// Request is everything a policy may weigh.
type Request struct {
	Dist       api.Distribution
	Targets    []api.Host
	Candidates []Candidate
	History    map[string]History // by candidate host name; missing means no history
	Count      int                // relays the built-in rule gives (RelayCount); a policy may differ
}

// History is what a relay host did before: relay tasks finished and failed.
type History struct {
	Done, Failed int
}

// Group is a set of targets and the relays chosen to serve them.
type Group struct {
	Name    string // e.g. the site; free text for logs
	Targets []string
	Relays  []string
}

// Builtin is the built-in policy: one group of every target, served by PickRelays.
type Builtin struct{}

// Name implements Policy.
func (Builtin) Name() string { return "builtin" }

// ChooseRelays implements Policy.
func (Builtin) ChooseRelays(_ context.Context, req Request) ([]Group, error) {
	names := make([]string, len(req.Targets))
	for i, t := range req.Targets {
		names[i] = t.Name
	}
	return []Group{{Name: "all", Targets: names, Relays: PickRelays(req.Candidates, req.Targets, req.Count)}}, nil
}

// Relays flattens groups into the distribution's relays, each once, in order of appearance.
func Relays(groups []Group) []string {
	var out []string
	seen := map[string]bool{}
	for _, g := range groups {
		for _, r := range g.Relays {
			if !seen[r] {
				seen[r] = true
				out = append(out, r)
			}
		}
	}
	return out
}

// CheckGroups refuses an answer a policy could not mean: relays that are not candidates, targets
// that were not asked about, or no relay at all when there were candidates to choose from.
func CheckGroups(req Request, groups []Group) error {
	cands := make(map[string]bool, len(req.Candidates))
	for _, c := range req.Candidates {
		cands[c.Host.Name] = true
	}
	tgts := make(map[string]bool, len(req.Targets))
	for _, t := range req.Targets {
		tgts[t.Name] = true
	}
	n := 0
	for _, g := range groups {
		for _, r := range g.Relays {
			if !cands[r] {
				return fmt.Errorf("relay %q of group %q is not a candidate", r, g.Name)
			}
			n++
		}
		for _, t := range g.Targets {
			if !tgts[t] {
				return fmt.Errorf("target %q of group %q is not a target of the distribution", t, g.Name)
			}
		}
	}
	if n == 0 && req.Count > 0 && len(req.Candidates) > 0 {
		return fmt.Errorf("no relay chosen from %d candidates", len(req.Candidates))
	}
	return nil
}
