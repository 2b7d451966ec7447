package cli

import (
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"

	"dist/core/api"
)

// OriginCmd shows and sets the limits the controller keeps for each origin.
type OriginCmd struct {
	Set OriginSetCmd `cmd:"" help:"Set an origin's limits; only the limits given change. 0 removes a limit."`
	Get OriginGetCmd `cmd:"" help:"Show one origin: limits, leases, bytes spent in the window."`
	Ls  OriginLsCmd  `cmd:"" help:"List origins: caps, in use, spent."`
}

// OriginLimits are the limit flags of 'dist origin set', 'dist push' (with the origin- prefix) and
// 'dist demo'. Empty means "not given": the origin's current value stays.
type OriginLimits struct {
	MaxConns string `name:"max-conns" help:"Most requests in flight to the origin from all hosts together; 0: no limit." placeholder:"N"`
	MaxRate  string `name:"max-rate" help:"Most bandwidth from the origin to all hosts together, e.g. 1Gbit/s or 100MiB/s; 0: no limit." placeholder:"RATE"`
	MaxBytes string `name:"max-bytes" help:"Most bytes from the origin per window, e.g. 2TB; 0: no limit." placeholder:"SIZE"`
	Window   string `help:"Window of --max-bytes: hour, day or a duration such as 12h (at least 1m). Windows are aligned to the clock (a day runs from 00:00 UTC)." placeholder:"WINDOW"`
}

// update turns the flags given into an update of origin; ok is false when none was given.
func (l OriginLimits) update(origin, prefix string) (u api.OriginUpdate, ok bool, err error) {
	u.Origin = origin
	if l.MaxConns != "" {
		n, err := strconv.Atoi(strings.TrimSpace(l.MaxConns))
		if err != nil || n < 0 {
			return u, false, usageError{fmt.Errorf("--%smax-conns %q: give a whole number, 0 for no limit", prefix, l.MaxConns)}
		}
		u.MaxConns, ok = &n, true
	}
	if l.MaxRate != "" {
		r, err := parseBandwidth(l.MaxRate)
		if err != nil {
			return u, false, usageError{fmt.Errorf("--%smax-rate: %w", prefix, err)}
		}
		u.MaxRate, ok = &r, true
	}
	if l.MaxBytes != "" {
		b, err := parseSize(l.MaxBytes)
		if err != nil || b < 0 {
			return u, false, usageError{fmt.Errorf("--%smax-bytes %q: give a size such as 2TB, 0 for no limit", prefix, l.MaxBytes)}
		}
		u.MaxBytes, ok = &b, true
	}
	if l.Window != "" {
		w, err := parseWindow(l.Window)
		if err != nil {
			return u, false, usageError{fmt.Errorf("--%swindow: %w", prefix, err)}
		}
		s := int64(w / time.Second)
		u.WindowS, ok = &s, true
	}
	return u, ok, nil
}

// setOriginLimits applies the limit flags given, if any, to the origin of source before a push.
func setOriginLimits(g *Globals, l OriginLimits, source, prefix string) error {
	u, ok, err := l.update(source, prefix)
	if err != nil || !ok {
		return err
	}
	if _, err := g.API().SetOrigin(g.Context(), u); err != nil {
		return fmt.Errorf("set origin limits of %s: %w", source, err)
	}
	return nil
}

// parseBandwidth parses a bandwidth: bytes per second with the units of sizes ("100MiB/s", "20MB"), or
// bits per second ("1Gbit/s", "500Mbps", SI prefixes as network people use them).
func parseBandwidth(s string) (int64, error) {
	bad := fmt.Errorf("invalid rate %q: give bytes or bits per second, such as 500KiB/s or 1Gbit/s", s)
	t := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(s)), "/s")
	if t == "0" {
		return 0, nil
	}
	if b, ok := strings.CutSuffix(t, "bps"); ok {
		t = b + "bit"
	}
	if num, ok := strings.CutSuffix(t, "bit"); ok {
		unit := ""
		if i := strings.IndexFunc(num, func(r rune) bool { return !(unicode.IsDigit(r) || r == '.') }); i >= 0 {
			num, unit = num[:i], strings.TrimSpace(num[i:])
		}
		mult := map[string]float64{"": 1, "k": 1e3, "m": 1e6, "g": 1e9, "t": 1e12}[unit]
		f, err := strconv.ParseFloat(num, 64)
		if mult == 0 || err != nil || f <= 0 || f*mult/8 >= math.MaxInt64 {
			return 0, bad
		}
		return int64(f * mult / 8), nil
	}
	n, err := parseSize(t)
	if err != nil || n <= 0 {
		return 0, bad
	}
	return n, nil
}

// parseWindow parses a byte-budget window: hour, day, or a Go duration of at least a minute.
func parseWindow(s string) (time.Duration, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "hour", "hourly", "1h":
		return time.Hour, nil
	case "day", "daily", "24h":
		return 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil || d < time.Minute {
		return 0, fmt.Errorf("window %q: give hour, day or a duration of at least 1m such as 12h", s)
	}
	return d, nil
}

// OriginSetCmd sets an origin's limits.
type OriginSetCmd struct {
	Origin string `arg:"" help:"The origin: a URL of it (only scheme, host and port count), e.g. https://cdn.example.com." placeholder:"URL"`
	OriginLimits
}

// Run changes the limits given and prints the origin.
func (c *OriginSetCmd) Run(g *Globals) error {
	u, ok, err := c.update(c.Origin, "")
	if err != nil {
		return err
	}
	if !ok {
		return usageError{errors.New("give at least one of --max-conns, --max-rate, --max-bytes, --window")}
	}
	st, err := g.API().SetOrigin(g.Context(), u)
	if err != nil {
		return fmt.Errorf("set origin %s: %w", c.Origin, err)
	}
	if g.JSON {
		return g.PrintJSON(st)
	}
	return printOrigin(g.Out, st, time.Now())
}

// OriginGetCmd shows one origin.
type OriginGetCmd struct {
	Origin string `arg:"" help:"The origin: a URL of it, e.g. https://cdn.example.com." placeholder:"URL"`
}

// Run prints the origin's limits, leases and spent bytes.
func (c *OriginGetCmd) Run(g *Globals) error {
	ss, err := g.API().Origins(g.Context(), c.Origin)
	if err != nil {
		return fmt.Errorf("origin %s: %w", c.Origin, err)
	}
	if len(ss) != 1 {
		return exitf(ExitNotFound, "origin %s: the controller answered %d origins", c.Origin, len(ss))
	}
	if g.JSON {
		return g.PrintJSON(ss[0])
	}
	return printOrigin(g.Out, ss[0], time.Now())
}

// OriginLsCmd lists origins.
type OriginLsCmd struct{}

// Run prints every origin the controller knows: caps, what is in use, what is spent.
func (c *OriginLsCmd) Run(g *Globals) error {
	ss, err := g.API().Origins(g.Context(), "")
	if err != nil {
		return fmt.Errorf("list origins: %w", err)
	}
	if g.JSON {
		if ss == nil {
			ss = []api.OriginStatus{}
		}
		return g.PrintJSON(ss)
	}
	// LEASED is what leases hold, not what the origin serves (0 without a cap): dist top measures
	// that from the spent bytes over time.
	t := newTable("ORIGIN", "CONNS", "LEASED", "SPENT", "WINDOW", "LEASES", "WAITING", "STATE")
	for _, s := range ss {
		t.add(s.Origin, usedOf(int64(s.Conns), int64(s.MaxConns), strconv.FormatInt), usedOf(s.Rate, s.MaxRate, rateText),
			usedOf(s.Spent, s.MaxBytes, func(n int64, _ int) string { return humanBytes(n) }),
			windowText(s.WindowS), strconv.Itoa(len(s.Leases)), strconv.Itoa(len(s.Waiting)), originState(s, time.Now()))
	}
	return t.write(g.Out, g.OutColor())
}

// usedOf renders "used/cap", or "used/-" without a cap.
func usedOf(used, limit int64, f func(int64, int) string) string {
	c := "-"
	if limit > 0 {
		c = f(limit, 10)
	}
	return f(used, 10) + "/" + c
}

func rateText(n int64, _ int) string { return humanBytes(n) + "/s" }

func windowText(s int64) string {
	switch s {
	case 0, 86400:
		return "day"
	case 3600:
		return "hour"
	}
	return (time.Duration(s) * time.Second).String()
}

// originState says in a few words how the origin's leases stand.
func originState(s api.OriginStatus, now time.Time) string {
	switch {
	case now.Before(s.QuietUntil):
		return "restarted: leases resume at " + s.QuietUntil.Local().Format("15:04:05")
	case s.MaxBytes > 0 && s.Spent >= s.MaxBytes:
		return "budget spent until " + s.WindowEnd.Local().Format("2006-01-02 15:04")
	case s.Throttle < 1:
		return fmt.Sprintf("throttled to %.0f%%: budget nearly spent", 100*s.Throttle)
	case s.Factor < 1:
		return fmt.Sprintf("backed off to %.0f%%: origin answered 429/5xx or slowly", 100*s.Factor)
	case len(s.Waiting) > 0:
		return "full: hosts waiting for origin quota"
	}
	return "ok"
}

func printOrigin(w io.Writer, s api.OriginStatus, now time.Time) error {
	var b strings.Builder
	fmt.Fprintf(&b, "origin       %s\n", s.Origin)
	fmt.Fprintf(&b, "connections  %s in flight (cap after back-off %s)\n", usedOf(int64(s.Conns), int64(s.MaxConns), strconv.FormatInt), capText(int64(s.ConnsCap), strconv.FormatInt))
	fmt.Fprintf(&b, "bandwidth    %s leased (cap after back-off %s)\n", usedOf(s.Rate, s.MaxRate, rateText), capText(s.RateCap, rateText))
	fmt.Fprintf(&b, "bytes        %s spent this %s (window %s to %s), %s granted not yet reported\n",
		usedOf(s.Spent, s.MaxBytes, func(n int64, _ int) string { return humanBytes(n) }), windowText(s.WindowS),
		s.WindowStart.Local().Format("2006-01-02 15:04"), s.WindowEnd.Local().Format("2006-01-02 15:04"), humanBytes(s.Outstanding))
	fmt.Fprintf(&b, "state        %s\n", originState(s, now))
	if len(s.Waiting) > 0 {
		fmt.Fprintf(&b, "waiting      %s\n", strings.Join(s.Waiting, ", "))
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return err
	}
	if len(s.Leases) == 0 {
		return nil
	}
	t := newTable("HOLDER", "ROLE", "CONNS", "RATE", "BYTES", "EXPIRES")
	for _, l := range s.Leases {
		role := "client"
		if l.Relay {
			role = "relay"
		}
		rate, bytes := "-", "-"
		if l.Rate >= 0 {
			rate = rateText(l.Rate, 10)
		}
		if l.Bytes >= 0 {
			bytes = humanBytes(l.Bytes)
		}
		t.add(l.Holder, role, strconv.Itoa(l.Conns), rate, bytes, l.Expires.Sub(now).Round(100*time.Millisecond).String())
	}
	fmt.Fprintln(w)
	return t.write(w, false)
}

func capText(n int64, f func(int64, int) string) string {
	if n <= 0 {
		return "-"
	}
	return f(n, 10)
}
