package tui

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"time"

	"dist/core/api"
	"dist/core/printable"
	"dist/daemon/relay"
)

// Why a task or a distribution is not moving, as every view shows it (dist show, dist top, the
// web page): one set of rules over the API's answers, so that the views never disagree.

// ShownState is the state to show for a task in a distribution in state ds. Once a distribution
// ended, its hosts stop their tasks and report no more, so a last report's "downloading" is stale:
// the task ended with the distribution, cancelled or failed.
func ShownState(ds api.DistState, ts api.TaskState) api.TaskState {
	if !ds.Ended() || !ts.Active() {
		return ts
	}
	if ds == api.DistCancelled {
		return api.TaskCancelled
	}
	return api.TaskFailed
}

// Stall answers why assignment a of d is not moving, "" while it moves or once it finished: what
// its host reported (waiting for origin quota, no peers, the metainfo not yet known), made precise
// with what the distribution shows (a relay below its start threshold), or that the distribution
// ended before the task did. A failed task's error is not a stall: see Failure.
func Stall(d api.Distribution, a api.Assignment) string {
	if d.State.Ended() && a.State.Active() {
		return "stopped: the distribution " + endedText(d.State) // what it last waited for is moot
	}
	if !a.State.Active() {
		return ""
	}
	if a.Role == api.RoleClient && d.InfoHash == "" && (a.Have == 0 || a.Error != "") {
		// Before the metainfo a client streams from the relay: what holds the relay holds it.
		if r, held, need, ok := belowThreshold(d); ok && a.Have == 0 {
			return fmt.Sprintf("waiting for the relay's start threshold: %s holds %s of the %s it serves from",
				printable.String(r), pct(held), pct(need))
		}
		if r, why := stalledRelay(d); why != "" && a.Error != "" {
			return fmt.Sprintf("waiting for relay %s: %s", printable.String(r), printable.String(why))
		}
	}
	return printable.String(a.Error)
}

// Failure answers why a failed task failed ("" for any other).
func Failure(d api.Distribution, a api.Assignment) string {
	if ShownState(d.State, a.State) != api.TaskFailed {
		return ""
	}
	return printable.String(a.Error)
}

func endedText(s api.DistState) string {
	switch s {
	case api.DistCancelled:
		return "was cancelled"
	case api.DistFailed:
		return "failed"
	case api.DistPartial:
		return "ended partial"
	}
	return "ended " + string(s)
}

// belowThreshold answers an active relay of d that does not hold its start threshold yet (it
// serves no client before), with the shares it holds and needs.
func belowThreshold(d api.Distribution) (name string, held, need float64, ok bool) {
	if d.Size <= 0 {
		return "", 0, 0, false
	}
	need = relay.DefaultStartThreshold
	if d.Settings != nil && d.Settings.StartThreshold > 0 && d.Settings.StartThreshold <= 1 {
		need = d.Settings.StartThreshold
	}
	bytes := int64(math.Ceil(need * float64(d.Size)))
	for _, a := range d.Assignments {
		if a.Role == api.RoleRelay && a.State.Active() && a.Have < bytes {
			return a.Host, float64(a.Have) / float64(d.Size), need, true
		}
	}
	return "", 0, 0, false
}

// stalledRelay answers an active relay of d that says why it is not moving.
func stalledRelay(d api.Distribution) (name, why string) {
	for _, a := range d.Assignments {
		if a.Role == api.RoleRelay && a.State.Active() && a.Error != "" {
			return a.Host, a.Error
		}
	}
	return "", ""
}

// CommonStall answers the stall most of d's tasks share and how many share it, of how many are
// active: the distribution's own reason when its assignments are known.
func CommonStall(d api.Distribution) (reason string, n, active int) {
	if d.State.Ended() {
		return "", 0, 0 // nothing is meant to move any more
	}
	counts := map[string]int{}
	for _, a := range d.Assignments {
		if a.Role != api.RoleClient || !a.State.Active() {
			continue
		}
		active++
		if r := Stall(d, a); r != "" {
			counts[r]++
		}
	}
	for _, r := range slices.Sorted(maps.Keys(counts)) { // ties: the first by name, every time
		if counts[r] > n {
			reason, n = r, counts[r]
		}
	}
	return reason, n, active
}

// DistStall answers why d, as the distribution list shows it (without its assignments), is not
// moving: its origin's byte budget is spent or others hold the origin's share, or its metainfo is
// not known yet. moving says whether bytes arrived lately; "" then, and for a distribution that
// ended. origins are GET /v1/origins.
func DistStall(d api.Distribution, origins []api.OriginStatus, moving bool, now time.Time) string {
	if moving || d.State.Ended() {
		return ""
	}
	if key, err := api.OriginKey(d.Source); err == nil {
		for _, o := range origins {
			if o.Origin != key {
				continue
			}
			if o.MaxBytes > 0 && o.Spent >= o.MaxBytes {
				return "waiting for origin quota: origin byte budget spent until " + untilText(o.WindowEnd, now)
			}
			if len(o.Waiting) > 0 {
				return fmt.Sprintf("waiting for origin quota: %d holders wait for a share", len(o.Waiting))
			}
		}
	}
	if d.InfoHash == "" && d.State == api.DistActive {
		return "metainfo not yet known: the relay is still hashing the source"
	}
	return ""
}

// untilText is a time of day, with the date when it is not today.
func untilText(t, now time.Time) string {
	t, now = t.Local(), now.Local()
	if t.Year() == now.Year() && t.YearDay() == now.YearDay() {
		return t.Format("15:04")
	}
	return t.Format("2006-01-02 15:04")
}

// StallLine renders a distribution's stall from CommonStall: "3 of 4 hosts: no peers".
func StallLine(reason string, n, active int) string {
	if reason == "" {
		return ""
	}
	if active <= 1 {
		return reason
	}
	return fmt.Sprintf("%d of %d hosts: %s", n, active, reason)
}
