package cli

import (
	"fmt"
	"time"
)

// timeLayout is how absolute times are shown: local time, to the minute, sortable.
const timeLayout = "2006-01-02 15:04"

// formatTime renders an absolute time, or "-" when unknown.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format(timeLayout)
}

// formatAge renders how long ago t was, coarsely: "12s ago", "5m ago", "3h ago", "2d ago".
func formatAge(t time.Time, now time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	switch {
	case d < 0:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	}
	return fmt.Sprintf("%dd ago", int(d.Hours()/24))
}

// orDash shows "-" for an empty cell so columns stay readable.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
