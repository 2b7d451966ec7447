package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"dist/core/api"
	"dist/core/printable"
)

const (
	// pollInterval is how often push --wait asks the controller for the distribution.
	pollInterval = 500 * time.Millisecond
	// retryFor is how long push --wait rides out an unreachable or failing controller (a restart,
	// a network blip) before giving up: a cron job waiting for hours should not die of one.
	retryFor = 2 * time.Minute
)

var errWaitTimeout = errors.New("wait timeout")

// waitFor polls the distribution until it ends, drawing progress for a person at a terminal, then
// prints the outcome: the summary or the Distribution as JSON on stdout, and for anything but
// complete one error line on stderr with the matching exit code.
func waitFor(g *Globals, d api.Distribution, timeout time.Duration) error {
	ctx := g.Context()
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, timeout, errWaitTimeout)
		defer cancel()
	}
	client := g.API()
	p := &progress{g: g, start: time.Now()}
	defer p.clear()

	ticker := time.NewTicker(pollInterval)
	defer ticker.Stop()
	var failingSince time.Time
	for {
		cur, err := client.Distribution(ctx, d.ID)
		switch {
		case err == nil:
			d, failingSince = cur, time.Time{}
			if d.State.Ended() {
				p.clear()
				return outcome(g, d, p.start)
			}
			p.draw(d)
		case ctx.Err() != nil:
			// handled below
		case transient(err):
			if failingSince.IsZero() {
				failingSince = time.Now()
			}
			if time.Since(failingSince) > retryFor {
				return fmt.Errorf("wait for distribution %s: %w", d.ID, err)
			}
			p.note(d, "controller not answering, retrying")
		default:
			return fmt.Errorf("wait for distribution %s: %w", d.ID, err)
		}
		select {
		case <-ctx.Done():
		case <-ticker.C:
			continue
		}
		p.clear()
		if context.Cause(ctx) == errWaitTimeout {
			if err := printResult(g, d, p.start); err != nil {
				return err
			}
			return exitf(ExitTimeout, "timed out after %s: distribution %s is %s, %d/%d targets done; it goes on (dist show %s)",
				timeout, d.ID, d.State, d.Done, d.Targets, d.ID)
		}
		return exitf(ExitInterrupted, "interrupted: distribution %s goes on (dist show %s)", d.ID, d.ID)
	}
}

// transient reports whether a polling error is worth retrying.
func transient(err error) bool {
	var ue *api.UnreachableError
	var se *api.StatusError
	return errors.As(err, &ue) || (errors.As(err, &se) && se.Status >= 500)
}

// outcome prints the final state and returns the error that carries its exit code.
func outcome(g *Globals, d api.Distribution, start time.Time) error {
	if err := printResult(g, d, start); err != nil {
		return err
	}
	switch d.State {
	case api.DistComplete:
		return nil
	case api.DistPartial:
		return exitf(ExitPartial, "distribution %s partial: %d of %d targets failed%s", d.ID, d.Failed, d.Targets, failureReason(d))
	case api.DistCancelled:
		return exitf(ExitFailed, "distribution %s was cancelled", d.ID)
	default:
		return exitf(ExitFailed, "distribution %s failed on every target%s", d.ID, failureReason(d))
	}
}

// failureReason answers the most frequent reason among the failed assignments, as ": N× reason
// (and K other reasons: dist report ID)", or "" when none says why.
func failureReason(d api.Distribution) string {
	counts := map[string]int{}
	for _, a := range d.Assignments {
		if a.State == api.TaskFailed && a.Error != "" {
			counts[printable.String(a.Error)]++
		}
	}
	best, n := "", 0
	for reason, c := range counts {
		if c > n || (c == n && reason < best) {
			best, n = reason, c
		}
	}
	if n == 0 {
		return ""
	}
	out := fmt.Sprintf(": %d× %s", n, best)
	if others := len(counts) - 1; others > 0 {
		out += fmt.Sprintf(" (and %d other reasons: dist report %s)", others, d.ID)
	}
	return out
}

// printResult writes the distribution on stdout: JSON, or a short summary for people.
func printResult(g *Globals, d api.Distribution, start time.Time) error {
	if g.JSON {
		return g.PrintJSON(d)
	}
	took := time.Since(start)
	if !d.EndedAt.IsZero() && !d.CreatedAt.IsZero() {
		took = d.EndedAt.Sub(d.CreatedAt)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: %d/%d targets done", d.ID, paint(g.OutColor(), stateStyle(d.State), string(d.State)), d.Done, d.Targets)
	if d.Failed > 0 {
		fmt.Fprintf(&b, ", %d failed", d.Failed)
	}
	fmt.Fprintf(&b, " in %s\n", took.Round(time.Second))
	fmt.Fprintf(&b, "  %s %s, %s\n", d.Name, humanBytes(d.Size), bySource(d.BytesBT, d.BytesHTTPRelay, d.BytesHTTPOrigin))
	_, err := fmt.Fprint(g.Out, b.String())
	return err
}

// bySource renders bytes by source with their shares: the figure that shows the origin was spared.
func bySource(bt, relay, origin int64) string {
	total := bt + relay + origin
	share := func(n int64) string {
		if total == 0 {
			return ""
		}
		return fmt.Sprintf(" (%.0f%%)", 100*float64(n)/float64(total))
	}
	return fmt.Sprintf("bt %s%s, relay %s%s, origin %s%s",
		humanBytes(bt), share(bt), humanBytes(relay), share(relay), humanBytes(origin), share(origin))
}

// progress is the one redrawn status line on stderr.
type progress struct {
	g        *Globals
	start    time.Time
	drawn    bool
	lastHave int64
	lastAt   time.Time
	rate     float64 // bytes/s, smoothed
}

func (p *progress) draw(d api.Distribution) {
	if !p.g.ShowProgress() {
		return
	}
	now := time.Now()
	if !p.lastAt.IsZero() {
		if dt := now.Sub(p.lastAt).Seconds(); dt > 0 {
			inst := float64(d.Have-p.lastHave) / dt
			// Smooth so one slow poll does not make the figure jump.
			p.rate = 0.3*inst + 0.7*p.rate
		}
	}
	p.lastHave, p.lastAt = d.Have, now
	p.note(d, fmt.Sprintf("%s/s  %s", humanBytes(int64(p.rate)), bySource(d.BytesBT, d.BytesHTTPRelay, d.BytesHTTPOrigin)))
}

func (p *progress) note(d api.Distribution, extra string) {
	if !p.g.ShowProgress() {
		return
	}
	fmt.Fprintf(p.g.Err, "\r\x1b[K%s %s  %d/%d done  %s  %s", d.ID, d.State, d.Done, d.Targets, percent(d), extra)
	p.drawn = true
}

// clear removes the progress line so that what follows starts on a clean line.
func (p *progress) clear() {
	if p.drawn {
		fmt.Fprint(p.g.Err, "\r\x1b[K")
		p.drawn = false
	}
}

// percent is the share of all target bytes already held.
func percent(d api.Distribution) string {
	want := d.Size * int64(d.Targets)
	if want <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", 100*float64(d.Have)/float64(want))
}
