package controller

import (
	"crypto/rand"
	"encoding/base32"
	"strconv"
	"strings"
	"sync"
)

// notifier is the wake-up behind the watch stream, per host: a change to some hosts' tasks wakes
// only their watches, so a report or a metainfo of one distribution never makes the whole fleet
// ask again. A host's version is the process nonce, a fleet-wide epoch (bumped by changes that
// may touch anyone) and the host's own counter. A change closes the channel a watcher took
// together with the version, under the mutex, so no wake-up is missed: either the change came
// before it looked (the version differs and it answers at once) or its channel will be closed.
type notifier struct {
	nonce string // per process: a restarted controller never repeats an old version

	mu    sync.Mutex
	epoch uint64
	all   chan struct{} // closed by wake
	hosts map[string]*hostWake

	// share, when set, tells other controllers of each wake-up (cluster.go); the *Local methods
	// wake only here.
	share func(names []string, all bool)
}

type hostWake struct {
	n  uint64
	ch chan struct{}
}

func newNotifier() *notifier {
	return &notifier{nonce: randomID(8), all: make(chan struct{}), hosts: map[string]*hostWake{}}
}

// version answers host's current version and the channels that close on its next change: one
// for the whole fleet, one for the host.
func (b *notifier) version(host string) (string, <-chan struct{}, <-chan struct{}) {
	b.mu.Lock()
	defer b.mu.Unlock()
	hw := b.hosts[host]
	if hw == nil {
		hw = &hostWake{ch: make(chan struct{})}
		b.hosts[host] = hw
	}
	// Built in one buffer: every watch asks for its version, and piecing it together allocated
	// each number apart.
	var buf [64]byte
	v := append(buf[:0], b.nonce...)
	v = append(v, ':')
	v = strconv.AppendUint(v, b.epoch, 10)
	v = append(v, '.')
	v = strconv.AppendUint(v, hw.n, 10)
	return string(v), b.all, hw.ch
}

// wake records a change that may touch any host's tasks and releases every held watch, here and
// at the other controllers.
func (b *notifier) wake() {
	b.wakeLocal()
	if b.share != nil {
		b.share(nil, true)
	}
}

// wakeHosts records a change to the tasks of the named hosts and releases their held watches,
// here and at the other controllers.
func (b *notifier) wakeHosts(names []string) {
	b.wakeHostsLocal(names)
	if b.share != nil && len(names) > 0 {
		b.share(names, false)
	}
}

func (b *notifier) wakeLocal() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.epoch++
	close(b.all)
	b.all = make(chan struct{})
}

func (b *notifier) wakeHostsLocal(names []string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, n := range names {
		hw := b.hosts[n]
		if hw == nil {
			// Nobody watched yet: its first watch answers whatever version it holds.
			hw = &hostWake{ch: make(chan struct{})}
			b.hosts[n] = hw
		}
		hw.n++
		close(hw.ch)
		hw.ch = make(chan struct{})
	}
}

var lowerBase32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// randomID answers n random lowercase base32 characters (5 bits each).
func randomID(n int) string {
	b := make([]byte, (n*5+7)/8)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return strings.ToLower(lowerBase32.EncodeToString(b))[:n]
}
