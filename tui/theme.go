package tui

import (
	"charm.land/bubbles/v2/progress"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"
)

// theme styles the views. Without colour every style is the identity, so golden files and plain
// output carry no escape codes; ascii swaps the bar's block characters for '#' and '.' (plain text
// for pipes and logs).
type theme struct {
	color bool
	ascii bool
	bar   progress.Model
}

func newTheme(color, ascii bool) theme {
	opts := []progress.Option{progress.WithoutPercentage()}
	switch {
	case ascii:
		opts = append(opts, progress.WithFillCharacters('#', '.'))
	case color:
		opts = append(opts, progress.WithColors(lipgloss.Color("#4C9AFF"), lipgloss.Color("#36D399")),
			progress.WithFillCharacters('█', '░'))
	default:
		opts = append(opts, progress.WithFillCharacters('█', '░'))
	}
	return theme{color: color, ascii: ascii, bar: progress.New(opts...)}
}

var (
	styleTitle   = lipgloss.NewStyle().Bold(true)
	styleHead    = lipgloss.NewStyle().Bold(true).Foreground(lipgloss.Color("8"))
	styleDim     = lipgloss.NewStyle().Faint(true)
	styleSel     = lipgloss.NewStyle().Reverse(true)
	styleGood    = lipgloss.NewStyle().Foreground(lipgloss.Green)
	styleBad     = lipgloss.NewStyle().Foreground(lipgloss.Red)
	styleWarn    = lipgloss.NewStyle().Foreground(lipgloss.Yellow)
	styleAccent  = lipgloss.NewStyle().Foreground(lipgloss.Cyan)
	stylePrompt  = lipgloss.NewStyle().Bold(true).Foreground(lipgloss.Black).Background(lipgloss.Yellow)
	styleErrLine = lipgloss.NewStyle().Bold(true).Foreground(lipgloss.Red)
)

// paint applies st when colour is on.
func (t theme) paint(st lipgloss.Style, s string) string {
	if !t.color || s == "" {
		return s
	}
	return st.Render(s)
}

// state colours a state word by what it means for the operator.
func (t theme) state(s string, w int) string {
	cell := fit(s, w)
	switch s {
	case "complete", "done", "seeding":
		return t.paint(styleGood, cell)
	case "failed", "cancelled":
		return t.paint(styleBad, cell)
	case "partial", "assisting", "http-main":
		return t.paint(styleWarn, cell)
	}
	return cell
}

// gauge draws a bar of w cells filled to f (0–1).
func (t theme) gauge(f float64, w int) string {
	if w <= 0 {
		return ""
	}
	b := t.bar
	b.SetWidth(w)
	s := b.ViewAs(clamp01(f))
	if !t.color {
		s = ansi.Strip(s)
	}
	return s
}

// limitGauge colours a limit's bar by how close it is to its cap.
func (t theme) limitGauge(f float64, w int) string {
	g := t.gauge(f, w)
	if !t.color {
		return g
	}
	switch {
	case f >= 0.9:
		return styleBad.Render(ansi.Strip(g))
	case f >= 0.75:
		return styleWarn.Render(ansi.Strip(g))
	}
	return g
}
