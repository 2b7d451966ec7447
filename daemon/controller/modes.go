package controller

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"dist/core/api"
	"dist/core/store"
)

// modeEvents keeps one event for every hybrid mode change (bt, assisting, http-main) a report
// carries and the controller has not stored yet. Hosts repeat each change in a few reports, so
// changes at or before the assignment's stored mode_at are the ones already kept.
func (s *Server) modeEvents(ctx context.Context, rep api.Report) {
	for _, t := range rep.Tasks {
		if len(t.ModeChanges) == 0 {
			continue
		}
		newest := int64(0)
		for _, c := range t.ModeChanges {
			newest = max(newest, c.AtMs)
		}
		// The repeats of a change kept already cost nothing: the newest change kept per task is in
		// memory, and the store is read only for news (its mode_at moves with the next flush).
		s.modeMu.Lock()
		seen, ok := s.modeSeen[t.ID]
		s.modeMu.Unlock()
		if ok && newest <= seen {
			continue
		}
		// The assignment is looked up in its distribution's view, not read from the store: when
		// the metainfo comes, a fleet's clients all change mode at once. The view holds the mode
		// time stored when it was built; what came since is in modeSeen.
		distID, _, _, _ := api.SplitAssignmentID(t.ID)
		var (
			last  time.Time
			found bool
		)
		err := s.readView(ctx, distID, func(v *distView) {
			if m := v.members[t.ID]; m != nil && m.host == rep.Host {
				last, found = m.modeAt, true
			}
		})
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			s.log.Warn("cannot read the distribution for mode events", "task", t.ID, "err", err)
		}
		if !found {
			continue
		}
		if ok && time.UnixMilli(seen).After(last) {
			last = time.UnixMilli(seen)
		}
		s.modeMu.Lock()
		if s.modeSeen == nil {
			s.modeSeen = map[string]int64{}
		}
		s.modeSeen[t.ID] = max(s.modeSeen[t.ID], newest)
		s.modeMu.Unlock()
		changes := slices.Clone(t.ModeChanges)
		slices.SortFunc(changes, func(a, b api.ModeChange) int { return int(a.AtMs - b.AtMs) })
		for _, c := range changes {
			at := time.UnixMilli(c.AtMs)
			if !at.After(last) {
				continue
			}
			from := c.From
			if from == "" {
				from = "start"
			}
			// In the background: when the metainfo comes, a fleet's reports each carry one, and
			// waiting for its commit held them all behind the store's one writer.
			s.eventLater(ctx, store.Event{At: at, DistID: distID, Host: rep.Host, Kind: "mode",
				Msg: fmt.Sprintf("mode %s → %s: %s", from, c.To, c.Reason)})
			s.log.Info("client mode changed", "task", t.ID, "host", rep.Host, "from", from, "to", c.To, "reason", c.Reason)
		}
	}
}
