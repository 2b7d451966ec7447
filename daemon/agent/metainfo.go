package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"dist/core/api"
)

// Metainfos keeps the metainfos a host fetched, by the SHA-256 of their bytes: the watch names a
// task's metainfo by its sum, and the bytes are fetched once per host, not with every answer.
type Metainfos struct {
	mu    sync.Mutex
	bySum map[string][]byte
	kept  map[string]time.Time // sums this host built: held a while though no task names them yet
}

// keptFor is how long a metainfo this host built is held before a task names it (its own task
// names it with the watch answer after the controller took it).
const keptFor = 10 * time.Minute

// Fill puts the metainfo into every task that names one by its sum, fetching each sum not held
// yet through fetch (api.Client.Metainfo). Sums no task names any more are forgotten. A task
// whose metainfo cannot be fetched is left without it and the first error is answered: the caller
// asks again (the task runs meanwhile as before its metainfo was known).
func (m *Metainfos) Fill(ctx context.Context, fetch func(ctx context.Context, sum string) ([]byte, error), tasks []api.Task) error {
	named := map[string]bool{}
	var first error
	for i := range tasks {
		sum := tasks[i].MetainfoSHA256
		if sum == "" || len(tasks[i].Metainfo) > 0 {
			continue
		}
		named[sum] = true
		b, ok := m.Get(sum)
		if !ok {
			// Fetched without the lock: the host serves what it holds to its peers meanwhile.
			got, err := fetch(ctx, sum)
			if err != nil {
				if first == nil {
					first = fmt.Errorf("fetch metainfo of task %s: %w", tasks[i].ID, err)
				}
				continue
			}
			b = got
			m.mu.Lock()
			if m.bySum == nil {
				m.bySum = map[string][]byte{}
			}
			m.bySum[sum] = b
			m.mu.Unlock()
		}
		tasks[i].Metainfo = b
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for sum := range m.bySum {
		if at, ok := m.kept[sum]; ok && time.Since(at) < keptFor {
			continue
		}
		if !named[sum] {
			delete(m.bySum, sum)
			delete(m.kept, sum)
		}
	}
	return first
}

// Get answers the metainfo held under sum (the daemon serves it to its peers).
func (m *Metainfos) Get(sum string) ([]byte, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.bySum[sum]
	return b, ok
}

// Keep holds raw, a metainfo this host built (a relay's pull), under its sum until no task
// names it any more.
func (m *Metainfos) Keep(raw []byte) {
	if len(raw) == 0 {
		return
	}
	h := sha256.Sum256(raw)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.bySum == nil {
		m.bySum = map[string][]byte{}
	}
	if m.kept == nil {
		m.kept = map[string]time.Time{}
	}
	sum := hex.EncodeToString(h[:])
	m.bySum[sum], m.kept[sum] = raw, time.Now()
}

// metaSum answers the hex SHA-256 of a metainfo's bytes: its name on the watch stream.
func metaSum(raw []byte) string {
	h := sha256.Sum256(raw)
	return hex.EncodeToString(h[:])
}
