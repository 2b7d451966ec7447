// Package printable makes text that hosts supplied (names, labels, errors, reasons) safe to print
// on an operator's terminal: control characters — escape sequences included — and bidirectional
// overrides are replaced, so a host cannot move the cursor, recolour the screen or reorder what
// is shown.
package printable

import (
	"strings"
	"unicode"
)

// String answers s with every control character and bidirectional control replaced by '?'
// (tabs and newlines by a space, keeping a cell on one line).
func String(s string) string {
	clean := true
	for _, r := range s {
		if unsafe(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\t' || r == '\n' || r == '\r':
			return ' '
		case unsafe(r):
			return '?'
		}
		return r
	}, s)
}

func unsafe(r rune) bool {
	return unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r)
}
