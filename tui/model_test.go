package tui

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"
	"github.com/charmbracelet/x/exp/teatest/v2"
)

// fakeSource answers the fixtures and records what the dashboard asked for.
type fakeSource struct {
	mu        sync.Mutex
	swarms    []string // the swarm argument of each Fetch
	cancelled []string
}

func (f *fakeSource) Fetch(_ context.Context, swarm string) (Snapshot, error) {
	f.mu.Lock()
	f.swarms = append(f.swarms, swarm)
	f.mu.Unlock()
	if swarm != "" {
		s := swarmSnapshot()
		return s, nil
	}
	return fleetSnapshot(), nil
}

func (f *fakeSource) Cancel(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cancelled = append(f.cancelled, id)
	return nil
}

func (f *fakeSource) asked(swarm string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range f.swarms {
		if s == swarm {
			return true
		}
	}
	return false
}

func key(code rune) tea.KeyPressMsg { return tea.KeyPressMsg{Code: code} }

func text(s string) tea.KeyPressMsg { return tea.KeyPressMsg{Code: rune(s[0]), Text: s} }

// TestNavigate drives the program as a person would: into a distribution, back, and out.
func TestNavigate(t *testing.T) {
	t.Parallel()
	src := &fakeSource{}
	m := New(src, Options{Interval: 100 * time.Millisecond})
	tm := teatest.NewTestModel(t, m, teatest.WithInitialTermSize(80, 24),
		teatest.WithProgramOptions(tea.WithColorProfile(colorprofile.Ascii)))
	wait := func(what string) {
		t.Helper()
		teatest.WaitFor(t, tm.Output(), func(b []byte) bool { return bytes.Contains(b, []byte(what)) },
			teatest.WithDuration(15*time.Second), teatest.WithCheckInterval(10*time.Millisecond))
	}
	wait("DISTRIBUTIONS (2)")
	tm.Send(key(tea.KeyDown))
	tm.Send(key(tea.KeyUp))
	tm.Send(key(tea.KeyEnter))
	// The renderer redraws only the cells that changed: wait for single words that only the next
	// screen has, where the screen before had blanks.
	wait("CLIENTS")
	tm.Send(text("j"))
	tm.Send(key(tea.KeyEscape))
	wait("LIMITS")
	tm.Send(text("?"))
	wait("selection")
	tm.Send(key(tea.KeyEscape))
	tm.Send(text("q"))
	tm.WaitFinished(t, teatest.WithFinalTimeout(15*time.Second))

	fm := tm.FinalModel(t).(Model)
	if fm.ui.screen != screenList || fm.selected != "k3vq9x2m7a" || fm.ui.help || fm.ui.hostCur != 1 {
		t.Errorf("final screen %d selected %q help %v host %d, want the list with k3vq9x2m7a selected, host 1 moved to",
			fm.ui.screen, fm.selected, fm.ui.help, fm.ui.hostCur)
	}
	if !src.asked("k3vq9x2m7a") {
		t.Errorf("the swarm of k3vq9x2m7a was never fetched: %v", src.swarms)
	}
}

// TestCancelAsksFirst walks the cancel question through Update: any key but y keeps the
// distribution, y cancels the selected one.
func TestCancelAsksFirst(t *testing.T) {
	t.Parallel()
	src := &fakeSource{}
	var m tea.Model = New(src, Options{})
	m, _ = m.Update(SnapshotMsg{Snap: fleetSnapshot()})
	m, _ = m.Update(text("c"))
	if !strings.Contains(m.View().Content, "cancel k3vq9x2m7a (base.img) on every host?") {
		t.Fatalf("no question:\n%s", m.View().Content)
	}
	m, cmd := m.Update(text("n"))
	if cmd != nil || len(src.cancelled) != 0 || !strings.Contains(m.View().Content, "kept k3vq9x2m7a") {
		t.Fatalf("n cancelled anyway (%v):\n%s", src.cancelled, m.View().Content)
	}
	m, _ = m.Update(text("c"))
	m, cmd = m.Update(text("y"))
	if cmd == nil {
		t.Fatal("y sent no cancel")
	}
	m, _ = m.Update(cmd())
	if len(src.cancelled) != 1 || src.cancelled[0] != "k3vq9x2m7a" {
		t.Fatalf("cancelled %v, want [k3vq9x2m7a]", src.cancelled)
	}
	if !strings.Contains(m.View().Content, "cancelled k3vq9x2m7a") {
		t.Errorf("no outcome shown:\n%s", m.View().Content)
	}
	// An ended distribution is not offered for cancelling.
	m, _ = m.Update(key(tea.KeyDown))
	m, _ = m.Update(text("c"))
	if out := m.View().Content; !strings.Contains(out, "p0c8dn4w1e already ended complete") {
		t.Errorf("cancel of an ended distribution:\n%s", out)
	}
}

// TestRefreshKeepsSelection: a refresh that reorders the list leaves the cursor on the same id.
func TestRefreshKeepsSelection(t *testing.T) {
	t.Parallel()
	var m tea.Model = New(nil, Options{})
	s := fleetSnapshot()
	m, _ = m.Update(SnapshotMsg{Snap: s})
	m, _ = m.Update(key(tea.KeyDown))
	s.Dists[0], s.Dists[1] = s.Dists[1], s.Dists[0]
	m, _ = m.Update(SnapshotMsg{Snap: s})
	if got := m.(Model); got.ui.distCur != 0 || got.selected != "p0c8dn4w1e" {
		t.Errorf("cursor %d on %q, want 0 on p0c8dn4w1e", got.ui.distCur, got.selected)
	}
}

// TestStallReasonFollowsTheSnapshots: a distribution that stops moving says why in the list, and
// the reason goes once a refresh shows it moving again.
func TestStallReasonFollowsTheSnapshots(t *testing.T) {
	t.Parallel()
	var m tea.Model = New(nil, Options{})
	m, _ = m.Update(SnapshotMsg{Snap: stalledSnapshot()})
	out := m.View().Content
	if !strings.Contains(out, "k3vq9x2m7a: waiting for origin quota: origin byte budget spent until 00:00") || !strings.Contains(out, "stall") {
		t.Fatalf("a stalled distribution does not say why:\n%s", out)
	}
	m, _ = m.Update(SnapshotMsg{Snap: fleetSnapshot()})
	if out := m.View().Content; strings.Contains(out, "waiting for origin quota") || strings.Contains(out, "stall") {
		t.Errorf("the reason stayed after the distribution moved again:\n%s", out)
	}
}
