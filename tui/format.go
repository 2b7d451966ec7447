package tui

import (
	"fmt"
	"strings"
	"time"

	"github.com/charmbracelet/x/ansi"
)

// size renders bytes compactly for narrow columns: "0B", "512B", "1.5K", "12M", "1.2G".
func size(n int64) string {
	if n < 1024 {
		return fmt.Sprintf("%dB", max(n, 0))
	}
	v := float64(n)
	for _, u := range []string{"K", "M", "G", "T", "P"} {
		v /= 1024
		if v < 1024 || u == "P" {
			if v < 10 {
				return fmt.Sprintf("%.1f%s", v, u)
			}
			return fmt.Sprintf("%.0f%s", v, u)
		}
	}
	return "?"
}

// rate renders bytes/s: "0B/s", "1.5M/s"; "-" when not known yet (a single reading).
func rate(bps float64) string {
	if bps < 0 {
		return "-"
	}
	return size(int64(bps)) + "/s"
}

// span renders a duration in at most six characters: "45s", "12m30s", "3h05m"; "-" when unknown.
func span(d time.Duration) string {
	switch {
	case d < 0:
		return "-"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 100*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

// pct renders a fraction as "56.0%".
func pct(f float64) string { return fmt.Sprintf("%.1f%%", 100*f) }

// fit truncates s to w cells (with an ellipsis) and pads it on the right.
func fit(s string, w int) string {
	if w <= 0 {
		return ""
	}
	if ansi.StringWidth(s) > w {
		s = ansi.Truncate(s, w, "…")
	}
	return s + strings.Repeat(" ", w-ansi.StringWidth(s))
}

// fitR truncates s to w cells and pads it on the left (numbers).
func fitR(s string, w int) string {
	if w <= 0 {
		return ""
	}
	if ansi.StringWidth(s) > w {
		s = ansi.Truncate(s, w, "…")
	}
	return strings.Repeat(" ", w-ansi.StringWidth(s)) + s
}

// clip cuts a line to w cells without padding.
func clip(s string, w int) string {
	if w > 0 && ansi.StringWidth(s) > w {
		return ansi.Truncate(s, w, "…")
	}
	return s
}

// orDash shows "-" for an empty cell.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// The renderings of the dashboard, for other views of the same snapshot (the web page), so that a
// rate or a progress reads the same everywhere.
func SizeText(n int64) string         { return size(n) }
func RateText(bps float64) string     { return rate(bps) }
func SpanText(d time.Duration) string { return span(d) }
func PercentText(f float64) string    { return pct(f) }
