package controller

import (
	"context"
	"fmt"
	"time"

	"dist/core/api"
	"dist/core/selection"
)

// DefaultPolicyTimeout bounds one relay-policy decision when Options.PolicyTimeout is zero.
const DefaultPolicyTimeout = 5 * time.Second

// pickRelays asks the configured policy for the relays of a distribution and falls back to the
// built-in policy, logging why, when it fails, times out or answers something unusable: a
// broken plugin must never stop a push.
func (s *Server) pickRelays(ctx context.Context, req api.CreateDistribution, tgts []api.Host, cands []selection.Candidate, n int) []string {
	sreq := selection.Request{
		Dist:       api.Distribution{Name: req.Name, Source: req.Source, Publisher: req.Publisher},
		Targets:    tgts,
		Candidates: cands,
		Count:      n,
	}
	builtin := func() []string {
		g, _ := selection.Builtin{}.ChooseRelays(ctx, sreq)
		return selection.Relays(g)
	}
	p := s.o.Policy
	if p == nil || n <= 0 || len(cands) == 0 {
		return builtin()
	}
	sreq.History = s.relayHistory(ctx, cands)
	timeout := s.o.PolicyTimeout
	if timeout <= 0 {
		timeout = DefaultPolicyTimeout
	}
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	type answer struct {
		groups []selection.Group
		err    error
	}
	// The call runs apart so that a policy ignoring its context still cannot hold the push.
	ch := make(chan answer, 1)
	go func() {
		g, err := p.ChooseRelays(pctx, sreq)
		ch <- answer{g, err}
	}()
	var a answer
	select {
	case a = <-ch:
	case <-pctx.Done():
	}
	// An error at the deadline is the timeout, whichever side noticed it first (gRPC's own
	// deadline can fire a moment before the context's).
	if dl, _ := pctx.Deadline(); ctx.Err() == nil && (a.err != nil || pctx.Err() != nil) && time.Until(dl) < timeout/10 {
		a.err = fmt.Errorf("no answer within %s", timeout)
	}
	if a.err == nil {
		a.err = selection.CheckGroups(sreq, a.groups)
	}
	relays := selection.Relays(a.groups)
	if a.err == nil && len(relays) == 0 {
		a.err = errNoRelayChosen
	}
	if a.err != nil {
		s.log.Warn("relay policy failed; using the built-in policy", "policy", p.Name(), "reason", a.err)
		return builtin()
	}
	s.log.Info("relays chosen by policy", "policy", p.Name(), "groups", len(a.groups), "relays", relays)
	return relays
}

type policyError string

func (e policyError) Error() string { return string(e) }

const errNoRelayChosen = policyError("policy chose no relay")

// relayHistory counts the relay tasks each candidate finished and failed, among those the store
// still lists for it.
func (s *Server) relayHistory(ctx context.Context, cands []selection.Candidate) map[string]selection.History {
	out := make(map[string]selection.History, len(cands))
	now := s.now()
	for _, c := range cands {
		tasks, err := s.st.HostTasks(ctx, c.Host.Name, now, 0)
		if err != nil {
			continue // history is a hint; a policy works without it
		}
		var h selection.History
		for _, t := range tasks {
			if t.Assignment.Role != api.RoleRelay {
				continue
			}
			switch t.Assignment.State {
			case api.TaskDone:
				h.Done++
			case api.TaskFailed:
				h.Failed++
			}
		}
		out[c.Host.Name] = h
	}
	return out
}
