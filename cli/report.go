package cli

import (
	"encoding/csv"
	"fmt"
	"strconv"
	"strings"
	"time"

	"dist/core/api"
)

// ReportCmd prints the figures of one distribution.
type ReportCmd struct {
	ID  string `arg:"" help:"Distribution id (as printed by push and ls)."`
	CSV bool   `help:"Print one CSV row per target host instead of the table (for spreadsheets)."`
}

// Run prints the summary and the per-site and per-host tables, the API's JSON object with --json,
// or CSV rows with --csv.
func (c *ReportCmd) Run(g *Globals) error {
	r, err := g.API().DistributionReport(g.Context(), c.ID)
	if err != nil {
		if statusIsNotFound(err) {
			return exitError{code: ExitNotFound, msg: "no such distribution: " + c.ID, err: err}
		}
		return fmt.Errorf("report of distribution %s: %w", c.ID, err)
	}
	switch {
	case g.JSON:
		return g.PrintJSON(r)
	case c.CSV:
		return writeReportCSV(g, r)
	}
	// The check mode lives in the metainfo (push --trusted), which the report does not carry.
	check := ""
	if d, err := g.API().Distribution(g.Context(), c.ID); err == nil {
		check = checkText(d.Metainfo)
	}
	return writeReport(g, r, check)
}

func writeReport(g *Globals, r api.DistReport, check string) error {
	color := g.OutColor()
	var b strings.Builder
	field := func(k, v string) { fmt.Fprintf(&b, "%-15s %s\n", k, v) }
	field("ID", r.ID+"  "+r.Name)
	field("State", paint(color, stateStyle(r.State), string(r.State)))
	field("Size", humanBytes(r.Size))
	if check != "" {
		field("Check", check)
	}
	field("Elapsed", msDuration(r.ElapsedMs))
	if !r.Deadline.IsZero() {
		field("Deadline", formatTime(r.Deadline))
	}
	field("Targets", fmt.Sprintf("%d: %d done, %d failed, progress %.1f %%", r.Targets, r.Done, r.Failed, 100*r.Progress))
	field("Completion", pctls(r.Completion))
	field("First byte", pctls(r.TimeToFirstByte))
	field("Speed", fmt.Sprintf("%s/s per host on average, %s/s in all", humanBytes(r.AvgSpeed), humanBytes(r.TotalSpeed)))
	field("Bytes", bySource(r.Bytes.BT, r.Bytes.HTTPRelay, r.Bytes.HTTPOrigin))
	if r.Bytes.Zero > 0 || r.Bytes.Kept > 0 {
		field("Not sent", fmt.Sprintf("%s zero pieces written by the targets, %s kept from the version they held",
			humanBytes(r.Bytes.Zero), humanBytes(r.Bytes.Kept)))
	}
	field("Origin", fmt.Sprintf("%s (%.2f× the file: relays %s, clients %s)", humanBytes(r.OriginBytes), r.OriginPerFile,
		humanBytes(r.RelayOrigin), humanBytes(r.Bytes.HTTPOrigin)))
	field("Relays", orDash(strings.Join(r.Relays, ", ")))
	field("Assist", fmt.Sprintf("%d mode switches", r.AssistSwitches))
	field("Samples", strconv.Itoa(r.Samples))
	if _, err := fmt.Fprint(g.Out, b.String()); err != nil {
		return err
	}

	fmt.Fprintln(g.Out)
	st := newTable("SITE", "TARGETS", "DONE", "FAILED", "SPEED", "P50", "P90", "BT", "RELAY", "ORIGIN")
	for _, s := range r.Sites {
		st.add(orDash(s.Site), strconv.Itoa(s.Targets), strconv.Itoa(s.Done), strconv.Itoa(s.Failed),
			humanBytes(s.AvgSpeed)+"/s", msDuration(s.Completion.P50), msDuration(s.Completion.P90),
			humanBytes(s.Bytes.BT), humanBytes(s.Bytes.HTTPRelay), humanBytes(s.Bytes.HTTPOrigin))
	}
	if err := st.write(g.Out, color); err != nil {
		return err
	}

	fmt.Fprintln(g.Out)
	ht := newTable("HOST", "SITE", "STATE", "FIRST BYTE", "DONE", "SPEED", "BT", "RELAY", "ORIGIN", "SWITCHES")
	for _, h := range r.Hosts {
		ht.add(h.Host, orDash(h.Site), string(h.State), msDuration(h.FirstByteMs), msDuration(h.DoneMs), humanBytes(h.Speed)+"/s",
			humanBytes(h.Bytes.BT), humanBytes(h.Bytes.HTTPRelay), humanBytes(h.Bytes.HTTPOrigin), strconv.Itoa(h.Switches))
		ht.style(2, stateStyle(h.State))
	}
	if err := ht.write(g.Out, color); err != nil {
		return err
	}
	if len(r.Failures) == 0 {
		return nil
	}
	fmt.Fprintln(g.Out)
	ft := newTable("FAILED", "ROLE", "REASON")
	for _, f := range r.Failures {
		ft.add(f.Host, string(f.Role), f.Reason)
	}
	return ft.write(g.Out, color)
}

// writeReportCSV prints one row per target host; times are milliseconds from the push, rates bytes/s.
func writeReportCSV(g *Globals, r api.DistReport) error {
	w := csv.NewWriter(g.Out)
	_ = w.Write([]string{"dist", "host", "site", "state", "have", "first_byte_ms", "done_ms", "speed",
		"bytes_bt", "bytes_http_relay", "bytes_http_origin", "assist_switches", "error"})
	i := func(n int64) string { return strconv.FormatInt(n, 10) }
	for _, h := range r.Hosts {
		_ = w.Write([]string{r.ID, h.Host, h.Site, string(h.State), i(h.Have), i(h.FirstByteMs), i(h.DoneMs), i(h.Speed),
			i(h.Bytes.BT), i(h.Bytes.HTTPRelay), i(h.Bytes.HTTPOrigin), strconv.Itoa(h.Switches), h.Error})
	}
	w.Flush()
	return w.Error()
}

// pctls renders completion percentiles: "p50 3.2s, p90 4.1s, p99 5s (n=6)", or "-" without any.
func pctls(p api.Percentiles) string {
	if p.N == 0 {
		return "-"
	}
	return fmt.Sprintf("p50 %s, p90 %s, p99 %s, max %s (n=%d)", msDuration(p.P50), msDuration(p.P90),
		msDuration(p.P99), msDuration(p.Max), p.N)
}

// msDuration renders milliseconds for a person, "-" for none.
func msDuration(ms int64) string {
	if ms <= 0 {
		return "-"
	}
	d := time.Duration(ms) * time.Millisecond
	if d < 10*time.Second {
		return d.Round(10 * time.Millisecond).String()
	}
	return d.Round(100 * time.Millisecond).String()
}
