package cli

import (
	"io"
	"os"

	"github.com/charmbracelet/x/term"
)

// streamIsTerminal reports whether w is a terminal. Anything that is not an *os.File (a buffer in tests, a
// pipe wrapper) is not.
func streamIsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(f.Fd())
}

// useColor decides whether to style output written to a stream. An explicit --color always/never
// wins; in auto mode NO_COLOR (https://no-color.org) turns colour off, CLICOLOR_FORCE turns it on
// even through a pipe, TERM=dumb turns it off, and otherwise only a terminal gets colour.
func useColor(mode string, tty bool, getenv func(string) string) bool {
	switch mode {
	case "always":
		return true
	case "never":
		return false
	}
	if getenv("NO_COLOR") != "" {
		return false
	}
	if f := getenv("CLICOLOR_FORCE"); f != "" && f != "0" {
		return true
	}
	if getenv("TERM") == "dumb" {
		return false
	}
	return tty
}

// ANSI styles. Kept to a handful: tables stay readable without them.
const (
	styleBold   = "1"
	styleRed    = "31"
	styleGreen  = "32"
	styleYellow = "33"
	styleDim    = "2"
)

// paint wraps s in an ANSI style when on is true.
func paint(on bool, style, s string) string {
	if !on || s == "" {
		return s
	}
	return "\x1b[" + style + "m" + s + "\x1b[0m"
}

// stateStyle picks the colour of a distribution, task or host state.
func stateStyle[S ~string](state S) string {
	switch state {
	case "complete", "done", "seeding", "yes":
		return styleGreen
	case "failed", "cancelled", "no":
		return styleRed
	case "partial":
		return styleYellow
	}
	return ""
}
