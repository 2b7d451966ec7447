package controller

import (
	"time"

	"dist/core/store"
)

// trustState is what the controller keeps to tell callers apart: named tokens, host approvals
// and revoked certificates, the leases' random ids and holders, and the per-host request buckets.
type trustState struct {
	tokens  tokenBook
	hosts   hostTrust // approvals and revocations (approval.go, revoke.go)
	leases  leaseBook
	limiter *hostLimiter
	clock   func() time.Time // of the request limits: wall time
}

func newTrust(st store.Store) *trustState {
	t := &trustState{limiter: newHostLimiter(DefaultHostRate, DefaultHostBurst), clock: time.Now}
	t.leases.byWire = map[string]*leaseRef{}
	t.leases.byInner = map[string]string{}
	if ts, ok := st.(store.TrustStore); ok {
		t.tokens.st = ts
	}
	if hs, ok := st.(store.HostTrustStore); ok {
		t.hosts.st = hs
	}
	return t
}
