package controller

import (
	"crypto/rand"
	"encoding/base32"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// notifier is the wake-up behind the watch stream, per host: a change to some hosts' tasks wakes
// only their watches, so a report or a metainfo of one distribution never makes the whole fleet
// ask again. A host's version is the process nonce, a fleet-wide epoch (bumped by changes that
// may touch anyone) and the host's own counter. A change replaces the channel a watcher took
// together with the version, under the mutex, and closes the old one, so no wake-up is missed:
// either the change came before it looked (the version differs and it answers at once) or its
// channel will be closed (paced, see release).
type notifier struct {
	nonce string // per process: a restarted controller never repeats an old version

	mu    sync.Mutex
	epoch uint64
	all   chan struct{} // closed by wake
	hosts map[string]*hostWake

	// share, when set, tells other controllers of each wake-up (cluster.go); the *Local methods
	// wake only here.
	share func(names []string, all bool)

	// A change to thousands of hosts' tasks (a push, its metainfo) releases their held watches
	// a batch at a time: released at once, ten thousand answers would queue on the same locks
	// and cores together with every report and peers ask, and all of them would wait seconds.
	// Versions move at once (a host that asks meanwhile is answered at once); only the release
	// of the held watches is paced: the next batch goes once half of the watches the last one
	// released were answered.
	relMu     sync.Mutex
	releasing [][]*wakeGen  // batches still to close, in order
	releaser  bool          // a goroutine is closing them
	answers   atomic.Int64  // released watches answered so far
	wait      time.Duration // releaseWait; shorter in tests
	// busy, when set, reports that the calls a released watch brings (a report, peers asks)
	// already queue: the next batch waits for them too, up to wait. The watches alone went out
	// as fast as they were answered, and each one's report and asks came after, all together,
	// at ten thousand hosts into 429s.
	busy func() bool
}

// Pacing of the release of held watches.
const (
	releaseBatch = 256             // channels closed at once
	releaseWait  = 2 * time.Second // the longest wait for a batch to be answered
)

type hostWake struct {
	n   uint64
	gen *wakeGen
}

// wakeGen is one generation of a host's wake-up: closed by the next change to its tasks, with the
// count of the watches held on it.
type wakeGen struct {
	ch   chan struct{}
	held atomic.Int32
}

func newWakeGen() *wakeGen { return &wakeGen{ch: make(chan struct{})} }

func newNotifier() *notifier {
	return &notifier{nonce: randomID(8), all: make(chan struct{}), hosts: map[string]*hostWake{}, wait: releaseWait}
}

// version answers host's current version, the channel that closes on the next change that may
// touch anyone, and the generation whose channel closes on the host's next change. A watch held
// on it counts itself in gen.held while it waits.
func (b *notifier) version(host string) (v string, all <-chan struct{}, gen *wakeGen) {
	b.mu.Lock()
	defer b.mu.Unlock()
	hw := b.hosts[host]
	if hw == nil {
		hw = &hostWake{gen: newWakeGen()}
		b.hosts[host] = hw
	}
	// Built in one buffer: every watch asks for its version, and piecing it together allocated
	// each number apart.
	var buf [64]byte
	s := append(buf[:0], b.nonce...)
	s = append(s, ':')
	s = strconv.AppendUint(s, b.epoch, 10)
	s = append(s, '.')
	s = strconv.AppendUint(s, hw.n, 10)
	return string(s), b.all, hw.gen
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
	gens := make([]*wakeGen, 0, len(names))
	b.mu.Lock()
	for _, n := range names {
		hw := b.hosts[n]
		if hw == nil {
			// Nobody watched yet: its first watch answers whatever version it holds.
			hw = &hostWake{gen: newWakeGen()}
			b.hosts[n] = hw
		}
		hw.n++
		gens = append(gens, hw.gen)
		hw.gen = newWakeGen()
	}
	b.mu.Unlock()
	b.release(gens)
}

// release closes the channels of gens: at once when they are few and nothing is being released,
// else a batch at a time, each once the watches the one before released were mostly answered.
func (b *notifier) release(gens []*wakeGen) {
	b.relMu.Lock()
	defer b.relMu.Unlock()
	if len(gens) <= releaseBatch && !b.releaser {
		for _, g := range gens {
			close(g.ch)
		}
		return
	}
	for part := range slices.Chunk(gens, releaseBatch) {
		b.releasing = append(b.releasing, part)
	}
	if !b.releaser {
		b.releaser = true
		go b.releaseLoop()
	}
}

func (b *notifier) releaseLoop() {
	for {
		b.relMu.Lock()
		if len(b.releasing) == 0 {
			b.releaser = false
			b.relMu.Unlock()
			return
		}
		batch := b.releasing[0]
		b.releasing[0] = nil
		b.releasing = b.releasing[1:]
		b.relMu.Unlock()
		base := b.answers.Load()
		held := int64(0)
		for _, g := range batch {
			held += int64(g.held.Load()) // read before the close: the released decrement it
			close(g.ch)
		}
		// The next batch goes once half of the watches this one released were answered: as fast
		// as the controller answers, and no faster. Bounded: answers that never come (the hosts
		// went away meanwhile) hold the next batch back releaseWait at most.
		for deadline := time.Now().Add(b.wait); (b.answers.Load()-base < held/2 || b.busy != nil && b.busy()) && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
	}
}

// answered counts the answer of a watch that was released.
func (b *notifier) answered() { b.answers.Add(1) }

var lowerBase32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// randomID answers n random lowercase base32 characters (5 bits each).
func randomID(n int) string {
	b := make([]byte, (n*5+7)/8)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return strings.ToLower(lowerBase32.EncodeToString(b))[:n]
}
