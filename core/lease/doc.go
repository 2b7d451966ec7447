// Package lease is the host side of origin leases: a fetch.Gate that admits requests to an origin
// only under a lease from the controller.
//
// The Gate asks for a lease when someone wants a connection, renews it at half its lifetime and
// releases it once nobody used it for a while. It enforces the lease locally: a semaphore of
// Lease.Conns requests in flight, a token bucket (golang.org/x/time/rate) at Lease.Rate, and a
// counter of the Lease.Bytes granted until the next renewal. A fetcher waits for all the bytes of a
// request before sending it (see fetch.Gate), so the origin never sends a byte that was not
// charged.
//
// Fail closed: without a live lease nothing is admitted, whatever the reason (the origin's caps are
// taken, its byte budget is spent, the controller restarted or cannot be reached). State tells
// which, for people: "waiting for origin quota: …".
//
// Before each renewal the Gate stops admitting and waits for its requests in flight to end
// (requests are sized to take about a sixteenth of a lease period), so a renewal that shrinks the
// lease can never leave more requests in flight than the fleet's cap; requests still running when
// the lease is about to expire are cancelled. Leases are counted from the moment they were asked
// for, on this host's clock, so the holder's lease always ends before the controller's.
package lease
