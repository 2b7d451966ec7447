package agent

import (
	"context"
	"fmt"
	"sync"

	"dist/core/api"
)

// Metainfos keeps the metainfos a host fetched, by the SHA-256 of their bytes: the watch names a
// task's metainfo by its sum, and the bytes are fetched once per host, not with every answer.
type Metainfos struct {
	mu    sync.Mutex
	bySum map[string][]byte
}

// Fill puts the metainfo into every task that names one by its sum, fetching each sum not held
// yet through fetch (api.Client.Metainfo). Sums no task names any more are forgotten. A task
// whose metainfo cannot be fetched is left without it and the first error is answered: the caller
// asks again (the task runs meanwhile as before its metainfo was known).
func (m *Metainfos) Fill(ctx context.Context, fetch func(ctx context.Context, sum string) ([]byte, error), tasks []api.Task) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.bySum == nil {
		m.bySum = map[string][]byte{}
	}
	named := map[string]bool{}
	var first error
	for i := range tasks {
		sum := tasks[i].MetainfoSHA256
		if sum == "" || len(tasks[i].Metainfo) > 0 {
			continue
		}
		named[sum] = true
		b, ok := m.bySum[sum]
		if !ok {
			got, err := fetch(ctx, sum)
			if err != nil {
				if first == nil {
					first = fmt.Errorf("fetch metainfo of task %s: %w", tasks[i].ID, err)
				}
				continue
			}
			b = got
			m.bySum[sum] = b
		}
		tasks[i].Metainfo = b
	}
	for sum := range m.bySum {
		if !named[sum] {
			delete(m.bySum, sum)
		}
	}
	return first
}
