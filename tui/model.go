package tui

import (
	"context"
	"fmt"
	"time"

	tea "charm.land/bubbletea/v2"
)

// Options shape a dashboard.
type Options struct {
	Interval time.Duration // between refreshes; default 1 s
	Color    bool          // style the views (the program still downsamples to the terminal)
	Local    bool          // the local daemon's view (dist top --host)
	Open     string        // distribution to open at start
}

// Model is the Bubble Tea model of `dist top`.
type Model struct {
	src      Source
	interval time.Duration
	snap     Snapshot
	ui       ui
	open     string // id of the distribution whose swarm is shown (screenSwarm)
	selected string // id under the cursor, so a refresh that reorders the list keeps it
	quitting bool
}

// Messages.
type (
	// SnapshotMsg carries a refresh's result into Update; tests send it directly.
	SnapshotMsg struct {
		Snap Snapshot
		Err  error
		tick bool // from the refresh loop: schedule the next one
	}
	tickMsg   struct{}
	cancelMsg struct {
		id  string
		err error
	}
)

// New returns a dashboard over src; a nil src shows only the snapshots sent to it.
func New(src Source, o Options) Model {
	if o.Interval <= 0 {
		o.Interval = time.Second
	}
	m := Model{src: src, interval: o.Interval, ui: ui{width: 80, height: 24, theme: newTheme(o.Color, false)}}
	if o.Local {
		m.ui.screen = screenLocal
	}
	if o.Open != "" {
		m.ui.screen, m.open, m.selected = screenSwarm, o.Open, o.Open
	}
	return m
}

// Init starts the refresh loop.
func (m Model) Init() tea.Cmd { return m.fetch(true) }

// fetch refreshes from the source in a command; tick marks the refresh loop's own calls.
func (m Model) fetch(tick bool) tea.Cmd {
	if m.src == nil {
		return nil
	}
	src, open, every := m.src, m.open, m.interval
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), max(5*time.Second, 2*every))
		defer cancel()
		s, err := src.Fetch(ctx, open)
		return SnapshotMsg{Snap: s, Err: err, tick: tick}
	}
}

// Update implements tea.Model.
func (m Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.ui.width, m.ui.height = msg.Width, msg.Height
		return m, nil
	case SnapshotMsg:
		var next tea.Cmd
		if msg.tick {
			next = tea.Tick(m.interval, func(time.Time) tea.Msg { return tickMsg{} })
		}
		if msg.Err != nil {
			m.snap.Err = msg.Err.Error()
			return m, next
		}
		if m.ui.screen == screenSwarm && msg.Snap.Swarm != nil && msg.Snap.Swarm.Dist.ID != m.open {
			msg.Snap.Swarm = nil // an answer for a distribution left meanwhile
		}
		m.snap = msg.Snap
		m.follow()
		return m, next
	case tickMsg:
		return m, m.fetch(true)
	case cancelMsg:
		if msg.err != nil {
			m.ui.status = fmt.Sprintf("cancel %s: %v", msg.id, msg.err)
		} else {
			m.ui.status = "cancelled " + msg.id
		}
		return m, m.fetch(false)
	case tea.KeyPressMsg:
		return m.key(msg)
	}
	return m, nil
}

// follow puts the cursor back on the selected distribution after a refresh and keeps both
// cursors inside their lists.
func (m *Model) follow() {
	for i, d := range m.snap.Dists {
		if d.ID == m.selected {
			m.ui.distCur = i
		}
	}
	m.ui.distCur = max(0, min(m.ui.distCur, len(m.snap.Dists)-1))
	if m.ui.distCur < len(m.snap.Dists) {
		m.selected = m.snap.Dists[m.ui.distCur].ID
	}
	m.ui.hostCur = max(0, min(m.ui.hostCur, m.rows()-1))
}

// rows is the length of the list the cursor moves in on the current screen.
func (m Model) rows() int {
	switch m.ui.screen {
	case screenSwarm:
		if m.snap.Swarm != nil {
			return len(m.snap.Swarm.Hosts)
		}
		return 0
	case screenLocal:
		if m.snap.Local != nil {
			return len(m.snap.Local.Tasks)
		}
		return 0
	}
	return len(m.snap.Dists)
}

func (m Model) key(k tea.KeyPressMsg) (tea.Model, tea.Cmd) {
	key := k.String()
	if key == "ctrl+c" {
		m.quitting = true
		return m, tea.Quit
	}
	if m.ui.confirm {
		m.ui.confirm = false
		if key != "y" && key != "Y" {
			m.ui.status = "kept " + m.selected
			return m, nil
		}
		id, src := m.selected, m.src
		m.ui.status = "cancelling " + id + "…"
		if src == nil {
			return m, nil
		}
		return m, func() tea.Msg {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			return cancelMsg{id: id, err: src.Cancel(ctx, id)}
		}
	}
	m.ui.status = ""
	if m.ui.help {
		switch key {
		case "?", "esc", "q":
			m.ui.help = false
		}
		return m, nil
	}
	page := max(1, m.ui.height-10)
	switch key {
	case "q":
		m.quitting = true
		return m, tea.Quit
	case "?":
		m.ui.help = true
	case "up", "k":
		m.move(-1)
	case "down", "j":
		m.move(1)
	case "pgup":
		m.move(-page)
	case "pgdown":
		m.move(page)
	case "home", "g":
		m.move(-m.rows())
	case "end", "G":
		m.move(m.rows())
	case "r":
		return m, m.fetch(false)
	case "enter":
		if m.ui.screen == screenList && m.selected != "" {
			m.ui.screen, m.open, m.ui.hostCur = screenSwarm, m.selected, 0
			m.snap.Swarm = nil
			return m, m.fetch(false)
		}
	case "esc", "backspace", "left", "h":
		if m.ui.screen == screenSwarm {
			m.ui.screen, m.open = screenList, ""
			m.snap.Swarm = nil
		}
	case "c":
		if m.ui.screen == screenLocal || m.selected == "" {
			return m, nil
		}
		if d, ok := m.current(); ok && d.State.Ended() {
			m.ui.status = fmt.Sprintf("%s already ended %s", d.ID, d.State)
			return m, nil
		}
		m.ui.confirm = true
	}
	return m, nil
}

// current is the selected distribution.
func (m Model) current() (Dist, bool) {
	for _, d := range m.snap.Dists {
		if d.ID == m.selected {
			return d, true
		}
	}
	return Dist{}, false
}

// move moves the cursor of the current screen by n rows.
func (m *Model) move(n int) {
	last := m.rows() - 1
	if last < 0 {
		return
	}
	if m.ui.screen == screenList {
		m.ui.distCur = max(0, min(last, m.ui.distCur+n))
		m.selected = m.snap.Dists[m.ui.distCur].ID
		return
	}
	m.ui.hostCur = max(0, min(last, m.ui.hostCur+n))
}

// View implements tea.Model.
func (m Model) View() tea.View {
	if m.quitting {
		return tea.NewView("")
	}
	v := tea.NewView(render(m.snap, m.ui))
	v.AltScreen = true
	v.WindowTitle = "dist top"
	return v
}

// Render draws s once as plain text for a stream that is not a terminal: no key hints, no height
// limit, '#' bars. scr picks the screen: the list, a swarm (s.Swarm) or the local view (s.Local).
func Render(s Snapshot, width int, color bool) string {
	u := ui{width: width, theme: newTheme(color, !color), plain: true}
	switch {
	case s.Local != nil:
		u.screen = screenLocal
	case s.Swarm != nil:
		u.screen = screenSwarm
	}
	return render(s, u) + "\n"
}
