package store

import (
	"context"
	"time"
)

// OriginState is an origin's row together with the whole state of its lease allocator.
type OriginState struct {
	Origin
	// State is the allocator's document, opaque to the store (the controller writes it); empty
	// until the first lease operation of a controller that shares its origins.
	State []byte
}

// OriginStateStore is an OriginStore shared by several controllers: each lease operation runs on
// the origin's state as the database holds it, one controller at a time per origin, so that the
// caps hold for the whole fleet. A Store that is not one (SQLite: one controller) leaves the
// lease state in the controller's memory.
type OriginStateStore interface {
	OriginStore
	// UpdateOrigin runs fn on the origin's row, created empty (no limits) when missing, locked
	// against every other UpdateOrigin of that origin in any process until fn's changes are
	// committed or dropped. fn answers whether to write st back (limits, snapshot and state);
	// on false or an error nothing is written, a row created for it neither, and fn's error is
	// answered as is. fn may run more than once (a transaction PostgreSQL aborted is retried):
	// it must start from st each time.
	UpdateOrigin(ctx context.Context, origin string, at time.Time, fn func(st *OriginState) (bool, error)) error
	// OriginStates returns every origin with its state, ordered by key, locking nothing.
	OriginStates(ctx context.Context) ([]OriginState, error)
}
