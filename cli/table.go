package cli

import (
	"dist/core/printable"
	"io"
	"strings"
	"unicode/utf8"
)

// table renders aligned plain-text columns. It measures the text before styling, which
// text/tabwriter cannot do once ANSI colour codes are in the cells.
type table struct {
	head   []string
	rows   [][]string
	styles [][]string // per cell, parallel to rows; "" = plain
}

func newTable(head ...string) *table { return &table{head: head} }

// add appends a row of plain cells. Cells often hold what hosts supplied (names, labels, errors):
// control characters are replaced, so none reaches the terminal.
func (t *table) add(cells ...string) {
	for i, c := range cells {
		cells[i] = printable.String(c)
	}
	t.rows = append(t.rows, cells)
	t.styles = append(t.styles, make([]string, len(cells)))
}

// style sets the style of column col in the last row.
func (t *table) style(col int, style string) {
	if n := len(t.styles); n > 0 && col < len(t.styles[n-1]) {
		t.styles[n-1][col] = style
	}
}

// write prints the table; color enables the header and cell styles.
func (t *table) write(w io.Writer, color bool) error {
	widths := make([]int, len(t.head))
	measure := func(cells []string) {
		for i, c := range cells {
			if i < len(widths) {
				widths[i] = max(widths[i], utf8.RuneCountInString(c))
			}
		}
	}
	measure(t.head)
	for _, r := range t.rows {
		measure(r)
	}
	var b strings.Builder
	line := func(cells, styles []string) {
		var l strings.Builder
		for i, c := range cells {
			if i >= len(widths) {
				break
			}
			style := styleBold
			if styles != nil {
				style = styles[i]
			}
			l.WriteString(paint(color, style, c))
			if i < len(cells)-1 {
				l.WriteString(strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c)+2))
			}
		}
		// An empty last column (no error, no labels) must not leave trailing blanks.
		b.WriteString(strings.TrimRight(l.String(), " "))
		b.WriteByte('\n')
	}
	line(t.head, nil)
	for i, r := range t.rows {
		line(r, t.styles[i])
	}
	_, err := io.WriteString(w, b.String())
	return err
}
