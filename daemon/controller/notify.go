package controller

import (
	"crypto/rand"
	"encoding/base32"
	"strconv"
	"strings"
	"sync"
)

// notifier is the broadcast behind the watch stream. A change closes the current channel and
// replaces it under the mutex, so a watcher that took (version, channel) together can never miss a
// wake-up: either the change happened before it looked (the version differs and it answers at once)
// or the channel it holds will be closed.
type notifier struct {
	nonce string // per process: a restarted controller never repeats an old version

	mu sync.Mutex
	n  uint64
	ch chan struct{}
}

func newNotifier() *notifier {
	return &notifier{nonce: randomID(8), ch: make(chan struct{})}
}

// version answers the current version string and the channel that closes on the next change.
func (b *notifier) version() (string, <-chan struct{}) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.nonce + ":" + strconv.FormatUint(b.n, 10), b.ch
}

// wake records a change that may touch any host's tasks and releases every held watch.
func (b *notifier) wake() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.n++
	close(b.ch)
	b.ch = make(chan struct{})
}

var lowerBase32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// randomID answers n random lowercase base32 characters (5 bits each).
func randomID(n int) string {
	b := make([]byte, (n*5+7)/8)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return strings.ToLower(lowerBase32.EncodeToString(b))[:n]
}
