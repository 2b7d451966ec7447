package cli

import (
	"strings"
	"testing"
)

// A host that names itself (or its error) with escape sequences cannot drive the operator's
// terminal through dist's tables.
func TestTableStripsControlCharacters(t *testing.T) {
	t.Parallel()
	tb := newTable("HOST", "ERROR")
	tb.add("evil\x1b[2J", "boom\x1b]0;owned\x07\nsecond line")
	var b strings.Builder
	if err := tb.write(&b, false); err != nil {
		t.Fatal(err)
	}
	if out := b.String(); strings.ContainsAny(out, "\x1b\x07") || strings.Count(out, "\n") != 2 {
		t.Fatalf("table printed control characters or split a cell:\n%q", out)
	}
}
