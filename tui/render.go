package tui

import (
	"fmt"
	"strings"

	"github.com/charmbracelet/x/ansi"

	"dist/core/api"
)

// screen is which view the dashboard shows.
type screen int

const (
	screenList  screen = iota // distributions, origin limits, events
	screenSwarm               // one distribution's relays and hosts
	screenLocal               // the local daemon's tasks (dist top --host)
)

// ui is the part of the dashboard's state the views read besides the data.
type ui struct {
	width, height int // height 0: no limit (plain output)
	screen        screen
	distCur       int // selected distribution
	hostCur       int // selected host in the swarm (or task in the local view)
	help          bool
	confirm       bool   // the cancel question is showing
	status        string // the outcome of the last action
	theme         theme
	plain         bool // one frame for a pipe: no key hints
}

// render draws one frame: at most height lines, each at most width cells.
func render(s Snapshot, u ui) string {
	w := max(u.width, 40)
	var body []string
	switch {
	case u.help:
		body = helpLines(u)
	case u.screen == screenLocal:
		body = localLines(s, u, w)
	case u.screen == screenSwarm:
		body = swarmLines(s, u, w)
	default:
		body = listLines(s, u, w)
	}
	if !u.plain {
		body = append(body, footer(s, u, w))
	}
	for i, l := range body {
		body[i] = clip(l, w)
	}
	return strings.Join(body, "\n")
}

// rowsLeft is how many lines remain for flexible parts once fixed lines are counted; unlimited
// height answers n itself (everything shows).
func rowsLeft(u ui, fixed, n int) int {
	if u.height <= 0 {
		return n
	}
	return max(0, u.height-fixed)
}

// window picks the slice [lo, hi) of n rows of which cur must be visible, in at most rows lines.
func window(n, cur, rows int) (lo, hi int) {
	if rows <= 0 {
		return 0, 0
	}
	if n <= rows {
		return 0, n
	}
	lo = max(0, min(cur-rows/2, n-rows))
	return lo, lo + rows
}

func header(s Snapshot, u ui, title string, w int) string {
	right := s.At.Local().Format("15:04:05")
	if s.At.IsZero() {
		right = "connecting…"
	}
	left := u.theme.paint(styleTitle, title)
	gap := w - ansi.StringWidth(left) - len(right)
	if gap < 1 {
		return clip(left, w)
	}
	return left + strings.Repeat(" ", gap) + u.theme.paint(styleDim, right)
}

// listLines is the first screen: every distribution, the origin limits and recent events.
func listLines(s Snapshot, u ui, w int) []string {
	t := u.theme
	title := "dist top"
	if s.Controller != "" {
		title += " · " + s.Controller
	}
	title += fmt.Sprintf(" · %d/%d hosts online", s.HostsOnline, s.Hosts)
	out := []string{header(s, u, title, w)}
	if s.Err != "" {
		out = append(out, t.paint(styleErrLine, "! "+s.Err))
	}

	limits := limitLines(s, u, w)
	const fixedParts = 1 + 1 + 1 + 1 + 1 + 1 // header, section title, column heads, bytes line, limits title, events title
	fixed := fixedParts + len(limits) + len(out) - 1
	if !u.plain {
		fixed++ // footer
	}
	left := rowsLeft(u, fixed, len(s.Dists)+len(s.Events))
	distRows := min(max(len(s.Dists), 1), max(3, left/2), left)
	if u.height <= 0 {
		distRows = max(len(s.Dists), 1)
	}
	evRows := left - distRows
	if u.height <= 0 {
		evRows = len(s.Events)
	}

	out = append(out, t.paint(styleTitle, fmt.Sprintf("DISTRIBUTIONS (%d)", len(s.Dists))))
	bar := max(4, w-67)
	out = append(out, t.paint(styleHead, "  "+fit("ID", 10)+" "+fit("NAME", 12)+" "+fit("STATE", 9)+" "+
		fit("PROGRESS", bar+7)+" "+fitR("RATE", 8)+" "+fitR("ETA", 6)+" "+fitR("DONE", 7)))
	if len(s.Dists) == 0 {
		out = append(out, t.paint(styleDim, "  no distributions yet: dist push SOURCE --to SELECTOR"))
	}
	lo, hi := window(len(s.Dists), u.distCur, distRows)
	for i := lo; i < hi; i++ {
		d := s.Dists[i]
		done := fmt.Sprintf("%d/%d", d.Done, d.Targets)
		etaCell := fitR(span(d.ETA), 6)
		if d.Reason != "" { // held back: the detail line (or the line below) says by what
			etaCell = t.paint(styleWarn, fitR("stall", 6))
		}
		row := fit(d.ID, 10) + " " + fit(d.Name, 12) + " " + t.state(string(d.State), 9) + " " +
			t.gauge(d.Progress(), bar) + " " + fitR(pct(d.Progress()), 6) + " " + fitR(rate(d.Rate), 8) + " " +
			etaCell + " " + fitR(done, 7)
		out = append(out, cursorRow(t, row, i == u.distCur && !u.plain))
		if u.plain && d.Reason != "" { // no cursor to pick one with: every stalled one says why
			out = append(out, t.paint(styleWarn, "    ↳ "+d.Reason))
		}
	}
	if len(s.Dists) > 0 && u.distCur < len(s.Dists) {
		d := s.Dists[u.distCur]
		line := "  " + d.ID + ": " + bySource(d.BytesBT, d.BytesRelay, d.BytesOrigin)
		if d.Failed > 0 {
			line += fmt.Sprintf(" · %d failed", d.Failed)
		}
		if d.Reason != "" && !u.plain {
			out = append(out, t.paint(styleWarn, "  "+d.ID+": "+d.Reason))
		} else {
			out = append(out, t.paint(styleDim, line))
		}
	} else {
		out = append(out, "")
	}
	out = append(out, t.paint(styleTitle, "ORIGIN LIMITS"))
	out = append(out, limits...)
	out = append(out, t.paint(styleTitle, "EVENTS"))
	out = append(out, eventLines(s.Events, u, w, evRows, true)...)
	return out
}

// bySource renders bytes by source with their shares, the figure that shows the origin was spared.
func bySource(bt, relay, origin int64) string {
	total := bt + relay + origin
	share := func(n int64) string {
		if total == 0 {
			return ""
		}
		return fmt.Sprintf(" %.0f%%", 100*float64(n)/float64(total))
	}
	return fmt.Sprintf("bt %s%s · http relay %s%s · http origin %s%s",
		size(bt), share(bt), size(relay), share(relay), size(origin), share(origin))
}

// maxLimitLines bounds the gauges so the other panes keep room at 80×24.
const maxLimitLines = 6

func limitLines(s Snapshot, u ui, w int) []string {
	t := u.theme
	if !s.LimitsKnown || len(s.Limits) == 0 {
		return []string{t.paint(styleDim, "  no origin limits set")}
	}
	var out []string
	bar := max(4, w-2-16-1-11-1-1-34)
	for i, l := range s.Limits {
		if i == maxLimitLines-1 && len(s.Limits) > maxLimitLines {
			out = append(out, t.paint(styleDim, fmt.Sprintf("  … %d more", len(s.Limits)-i)))
			break
		}
		// The scheme is noise in a 16-cell column: "origin:8080" says which one.
		origin := strings.TrimPrefix(strings.TrimPrefix(l.Origin, "http://"), "https://")
		if i > 0 && s.Limits[i-1].Origin == l.Origin {
			origin = ""
		}
		out = append(out, "  "+fit(origin, 16)+" "+fit(l.Name, 11)+" "+t.limitGauge(l.Fraction(), bar)+" "+limitText(l))
	}
	return out
}

// limitText is "40 of 100", "80M/s of 100M/s", "1.2G of 10G /24h".
func limitText(l Limit) string {
	val := func(v float64) string {
		switch l.Unit {
		case UnitRate:
			return rate(v)
		case UnitBytes:
			return size(int64(v))
		}
		return fmt.Sprintf("%.0f", v)
	}
	if l.Unit == UnitRate {
		// What the origin serves, measured, beside what the leases hold (nothing without a cap).
		if l.Cap <= 0 {
			return rate(l.Measured) + " (no cap)"
		}
		return rate(l.Measured) + ", leased " + val(l.Used) + " of " + val(l.Cap)
	}
	if l.Cap <= 0 {
		return val(l.Used) + " (no cap)"
	}
	s := val(l.Used) + " of " + val(l.Cap)
	if l.Window != "" {
		s += " /" + l.Window
	}
	return s
}

func eventLines(evs []Event, u ui, w, rows int, withDist bool) []string {
	t := u.theme
	if len(evs) == 0 && rows > 0 {
		return []string{t.paint(styleDim, "  no events yet")}
	}
	var out []string
	for i := 0; i < len(evs) && i < rows; i++ {
		e := evs[i]
		line := "  " + e.At.Local().Format("15:04:05") + " "
		if withDist && e.Dist != "" {
			line += fit(e.Dist, 10) + " "
		}
		if e.Host != "" {
			line += e.Host + ": "
		}
		line += e.Msg
		line = clip(line, w)
		switch e.Kind {
		case "failed":
			line = t.paint(styleBad, line)
		case "mode", "relay-replaced", "deadline":
			line = t.paint(styleWarn, line)
		}
		out = append(out, line)
	}
	return out
}

// cursorRow marks the selected row.
func cursorRow(t theme, row string, selected bool) string {
	if !selected {
		return "  " + row
	}
	if t.color {
		return t.paint(styleAccent, "▶ ") + row
	}
	return "> " + row
}

// swarmLines is one distribution: overall progress, bytes by source, relays, hosts, events.
func swarmLines(s Snapshot, u ui, w int) []string {
	t := u.theme
	sw := s.Swarm
	if sw == nil {
		id := ""
		if u.distCur < len(s.Dists) {
			id = s.Dists[u.distCur].ID
		}
		return []string{header(s, u, "dist top › "+id, w), t.paint(styleDim, "  loading…")}
	}
	d := sw.Dist
	title := fmt.Sprintf("dist top › %s %s · %s · %s · %d/%d done", d.ID, d.Name, d.State, size(d.Size), d.Done, d.Targets)
	if d.Failed > 0 {
		title += fmt.Sprintf(", %d failed", d.Failed)
	}
	out := []string{header(s, u, title, w)}
	if s.Err != "" {
		out = append(out, t.paint(styleErrLine, "! "+s.Err))
	}
	tail := fmt.Sprintf(" %s  %s  ETA %s", fitR(pct(d.Progress()), 6), rate(d.Rate), span(d.ETA))
	out = append(out, "  "+t.gauge(d.Progress(), max(10, w-2-len(tail)))+tail)
	out = append(out, "  "+bySource(d.BytesBT, d.BytesRelay, d.BytesOrigin))
	if d.Reason != "" {
		out = append(out, t.paint(styleWarn, "  not moving: "+d.Reason))
	}

	// Relays: at most three lines; they are few by design (1–5 % of targets).
	rbar := max(4, w-57)
	out = append(out, t.paint(styleHead, "  "+fit("RELAY", 10)+" "+fit("STATE", 11)+" "+fit("PULL", rbar+7)+" "+
		fitR("RATE", 8)+" "+fitR("UP", 7)+" "+fitR("CLIENTS", 7)))
	if len(sw.Relays) == 0 {
		out = append(out, t.paint(styleDim, "  no relay"))
	}
	for i := 0; i < len(sw.Relays) && i < 3; i++ {
		r := sw.Relays[i]
		out = append(out, "  "+fit(r.Name, 10)+" "+t.state(string(r.State), 11)+" "+t.gauge(r.Progress(), rbar)+" "+
			fitR(pct(r.Progress()), 6)+" "+fitR(rate(r.Rate), 8)+" "+fitR(size(r.Up), 7)+" "+fitR(fmt.Sprint(r.Clients), 7))
		switch {
		case r.Error != "":
			out = append(out, t.paint(styleBad, "    ↳ failed: "+r.Error))
		case r.Stall != "":
			out = append(out, t.paint(styleWarn, "    ↳ "+r.Stall))
		}
	}

	fixed := len(out) + 1 + 1 + 1 // host heads, detail line, events title
	if !u.plain {
		fixed++
	}
	left := rowsLeft(u, fixed, len(sw.Hosts)+len(sw.Events))
	hostRows := max(1, left-min(len(sw.Events), max(2, left/4)))
	evRows := left - hostRows
	if u.height <= 0 {
		hostRows, evRows = len(sw.Hosts), len(sw.Events)
	}
	out = append(out, hostHead(t, w, "HOST"))
	if len(sw.Hosts) == 0 {
		out = append(out, t.paint(styleDim, "  no client host"))
	}
	lo, hi := window(len(sw.Hosts), u.hostCur, hostRows)
	for i := lo; i < hi; i++ {
		out = append(out, cursorRow(t, hostRow(t, sw.Hosts[i], w, sw.Hosts[i].Name), i == u.hostCur && !u.plain))
	}
	if u.plain { // no cursor to pick a host with: every host's error or reason
		for i, h := range sw.Hosts {
			if h.Error != "" || h.Stall != "" || h.Reason != "" {
				out = append(out, hostDetail(t, sw.Hosts, i))
			}
		}
	} else {
		out = append(out, hostDetail(t, sw.Hosts, u.hostCur))
	}
	out = append(out, t.paint(styleTitle, "EVENTS"))
	out = append(out, eventLines(sw.Events, u, w, evRows, false)...)
	return out
}

// host table columns: name, state, bar, percent, BT rate, HTTP rate, assist mode, cooldown, peers.
func hostBar(w int) int { return max(4, w-73) }

func hostHead(t theme, w int, first string) string {
	return t.paint(styleHead, "  "+fit(first, 10)+" "+fit("STATE", 11)+" "+fit("PROGRESS", hostBar(w)+7)+" "+
		fitR("BT", 8)+" "+fitR("HTTP", 8)+" "+fit("ASSIST", 9)+" "+fitR("COOL", 5)+" "+fitR("PEERS", 5))
}

func hostRow(t theme, h Host, w int, first string) string {
	prog := t.gauge(h.Progress(), hostBar(w)) + " " + fitR(pct(h.Progress()), 6)
	if h.Size <= 0 { // size unknown (local view): show what is held
		prog = fit(size(h.Have), hostBar(w)+7)
	}
	cool := ""
	if h.Cooldown > 0 { // at most 300 s by the specification: seconds fit the column
		cool = fmt.Sprintf("%ds", int(h.Cooldown.Seconds()))
	}
	return fit(first, 10) + " " + t.state(string(h.State), 11) + " " + prog + " " + fitR(rate(h.RateBT), 8) + " " +
		fitR(rate(h.RateHTTP), 8) + " " + t.state(orDash(h.Assist), 9) + " " + fitR(cool, 5) + " " + fitR(fmt.Sprint(h.Peers), 5)
}

// hostDetail is the line under the host table: the selected host's error, or why it is in its
// assist mode and how long until it may switch again.
func hostDetail(t theme, hs []Host, cur int) string {
	if cur >= len(hs) {
		return ""
	}
	h := hs[cur]
	switch {
	case h.Error != "":
		return t.paint(styleBad, "  "+h.Name+" failed: "+h.Error)
	case h.Stall != "":
		return t.paint(styleWarn, "  "+h.Name+" "+string(h.State)+": "+h.Stall)
	case h.Reason != "":
		line := "  " + h.Name + " " + h.Assist + ": " + h.Reason
		if h.Cooldown > 0 {
			line += fmt.Sprintf(" · cooldown %ds", int(h.Cooldown.Seconds()))
		}
		return t.paint(styleDim, line)
	}
	return t.paint(styleDim, fmt.Sprintf("  %s %s: bt %s · http %s · %d peers", h.Name, h.State, rate(h.RateBT), rate(h.RateHTTP), h.Peers))
}

// localLines is the local daemon's own view: its tasks over the LocalAPI.
func localLines(s Snapshot, u ui, w int) []string {
	t := u.theme
	l := s.Local
	if l == nil {
		return []string{header(s, u, "dist top --host", w), t.paint(styleDim, "  connecting to the local daemon…")}
	}
	title := fmt.Sprintf("dist top --host · %s · %s", l.Name, strings.Join(api.RoleNames(l.Roles), ","))
	if l.Controller != "" {
		title += " · " + l.Controller
	}
	out := []string{header(s, u, title, w)}
	if s.Err != "" {
		out = append(out, t.paint(styleErrLine, "! "+s.Err))
	}
	out = append(out, t.paint(styleTitle, fmt.Sprintf("TASKS (%d)", len(l.Tasks))))
	out = append(out, hostHead(t, w, "DIST"))
	if len(l.Tasks) == 0 {
		out = append(out, t.paint(styleDim, "  no task: this daemon has nothing to do"))
	}
	fixed := len(out) + 1
	if !u.plain {
		fixed++
	}
	rows := rowsLeft(u, fixed, len(l.Tasks))
	lo, hi := window(len(l.Tasks), u.hostCur, rows)
	for i := lo; i < hi; i++ {
		h := l.Tasks[i]
		state := h.State
		if h.Role == api.RoleRelay {
			state += "*"
		}
		h.State = state
		out = append(out, cursorRow(t, hostRow(t, h, w, h.Dist), i == u.hostCur && !u.plain))
	}
	if len(l.Tasks) > 0 && u.hostCur < len(l.Tasks) {
		h := l.Tasks[u.hostCur]
		h.Name = h.Dist + " (" + string(h.Role) + ")"
		out = append(out, hostDetail(t, []Host{h}, 0))
	}
	return out
}

func footer(s Snapshot, u ui, w int) string {
	t := u.theme
	switch {
	case u.confirm:
		q := "cancel this distribution? y: cancel it · any other key: keep it"
		if u.distCur < len(s.Dists) {
			d := s.Dists[u.distCur]
			q = fmt.Sprintf("cancel %s (%s) on every host? y: cancel it · any other key: keep it", d.ID, d.Name)
		}
		return t.paint(stylePrompt, fit(q, w))
	case u.status != "":
		return t.paint(styleAccent, clip(u.status, w))
	case u.help:
		return t.paint(styleDim, "? or esc: close help · q: quit")
	}
	keys := "↑/↓ j/k select · enter open · c cancel · ? help · q quit"
	switch u.screen {
	case screenSwarm:
		keys = "↑/↓ j/k host · esc back · c cancel · ? help · q quit"
	case screenLocal:
		keys = "↑/↓ j/k task · ? help · q quit"
	}
	return t.paint(styleDim, keys)
}

func helpLines(u ui) []string {
	t := u.theme
	lines := []string{
		t.paint(styleTitle, "dist top · keys"),
		"",
		"  ↑ ↓  j k     move the selection",
		"  pgup pgdn    move by a page",
		"  home end     first, last",
		"  enter        open the selected distribution: its relays and hosts",
		"  esc          back to the list (or close this help)",
		"  c            cancel the selected distribution (asks first)",
		"  r            refresh now",
		"  ?            this help",
		"  q  ctrl+c    quit",
		"",
		t.paint(styleTitle, "columns"),
		"  BT, HTTP     receive rate over BitTorrent and over HTTP (relay + origin)",
		"  ASSIST       bt: BitTorrent alone · assisting: HTTP fills gaps ·",
		"               http-main: BitTorrent absent, HTTP carries the download",
		"  COOL         time until the host may switch mode again",
		"  CLIENTS      hosts a relay serves now: its BitTorrent peers, or the hosts",
		"               streaming from it over HTTP while the metainfo is not known yet",
	}
	return lines
}
