package task

import (
	"fmt"
	"time"

	"dist/core/api"
	"dist/core/lease"
)

// stallAfter is how long an active task may go without a new byte before its reports say why: a
// short pause between pieces is no stall.
const stallAfter = 3 * time.Second

// stallState follows a task's bytes so that a report can tell a task that does not move; guarded
// by Task.mu.
type stallState struct {
	have    int64
	movedAt time.Time // when have last grew; the task's start before its first byte
}

// stallFacts is what a report knows of a task that has not moved for a while.
type stallFacts struct {
	Role      api.Role
	MetaKnown bool
	Peers     int
	Gates     []lease.State // the host's gates for the task's origin
	Still     time.Duration // since the last new byte (or the start)
}

// stallText says why a task does not move, most telling cause first: the origin's quota holds it
// back, the metainfo is not there yet, nobody to fetch from, or peers that send nothing new.
func stallText(f stallFacts) string {
	for _, g := range f.Gates {
		switch g.Phase {
		case lease.PhaseWaiting:
			if g.Reason != "" {
				return "waiting for origin quota: " + g.Reason
			}
			return "waiting for origin quota"
		case lease.PhaseUnreachable:
			return g.Phase
		}
	}
	if !f.MetaKnown {
		if f.Role == api.RoleRelay {
			return fmt.Sprintf("no bytes from the origin for %s", f.Still.Round(time.Second))
		}
		return "metainfo not yet known: waiting for the relay"
	}
	if f.Peers == 0 {
		return "no peers: nobody holds pieces to fetch yet"
	}
	return fmt.Sprintf("no new bytes for %s from %d peers", f.Still.Round(time.Second), f.Peers)
}

// stallReason answers why the active task has not moved for stallAfter, "" while it moves or once
// it ended: the report carries it as the task's error, so it clears by itself. Callers hold t.mu.
func (t *Task) stallReason(now time.Time) string {
	s := &t.stall
	have := t.Have.Load()
	if s.movedAt.IsZero() || have != s.have {
		s.have, s.movedAt = have, now
		if have == 0 {
			s.movedAt = t.taken // no byte yet: still since the task was taken up
		}
	}
	size := t.spec.Size
	if t.meta.Known() {
		size = t.meta.Size
	}
	if !t.state.Active() || t.Complete.Load() || size > 0 && have >= size {
		return "" // ended, or every byte is here and the copy is being checked and put in place
	}
	still := now.Sub(s.movedAt)
	if still < stallAfter {
		return ""
	}
	f := stallFacts{Role: t.spec.Role, MetaKnown: t.meta.Known(), Peers: int(t.PeerConns.Load()), Still: still}
	if key, err := api.OriginKey(t.spec.Source); err == nil && t.env != nil && t.env.Gates != nil {
		for _, g := range t.env.Gates.States() {
			if g.Origin == key {
				f.Gates = append(f.Gates, g)
			}
		}
	}
	return stallText(f)
}
