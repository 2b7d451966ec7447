package controller

import "dist/core/api"

// DistributionState derives a distribution's state from its current state and the states of its
// client assignments (relays do not count: a distribution is done when its targets are).
//
//   - cancelled stays cancelled: an operator's decision is not undone by late reports;
//   - every client pending (or no client at all) → pending;
//   - every client done or seeding → complete;
//   - every client done, seeding or failed, some failed → partial, or failed when none is done;
//   - otherwise → active.
//
// A cancelled client assignment (one host taken out of a distribution) is left out of the count;
// when every client is cancelled the distribution is cancelled.
func DistributionState(current api.DistState, clients []api.TaskState) api.DistState {
	counts := map[api.TaskState]int{}
	for _, st := range clients {
		counts[st]++
	}
	return stateOfCounts(current, counts)
}

// stateOfCounts is DistributionState over the number of clients in each state.
func stateOfCounts(current api.DistState, clients map[api.TaskState]int) api.DistState {
	if current == api.DistCancelled {
		return api.DistCancelled
	}
	var n, pending, done, failed, cancelled int
	for st, k := range clients {
		switch st {
		case api.TaskCancelled:
			cancelled += k
			continue
		case api.TaskPending:
			pending += k
		case api.TaskDone, api.TaskSeeding:
			done += k
		case api.TaskFailed:
			failed += k
		}
		n += k
	}
	switch {
	case n == 0 && cancelled > 0:
		return api.DistCancelled
	case pending == n:
		return api.DistPending
	case done == n:
		return api.DistComplete
	case done+failed == n && done > 0:
		return api.DistPartial
	case done+failed == n:
		return api.DistFailed
	default:
		return api.DistActive
	}
}
