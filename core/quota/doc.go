// Package quota caps what all hosts together take from an origin, by handing out short leases.
//
// A limit that a misbehaving or restarted host can break is no limit, so every byte fetched from an
// origin, by relays and by clients, needs a lease from the controller's Allocator:
// {conns, rate, bytes, expires}. Fetchers enforce a lease locally (a semaphore for conns, a token
// bucket for rate, a counter for bytes) and renew it well before it expires; without a lease they
// fetch nothing (fail closed). Everything here is pure: the controller passes the time into every
// call and persists Snapshot itself.
//
// # Invariants
//
//   - The connections and the rates of all live leases never add up to more than Limits.MaxConns and
//     Limits.MaxRate. A grant is at most the cap (after back-off) minus what the other leases hold.
//   - Within a byte window, bytes reported as used plus bytes granted and not yet reported never
//     exceed Limits.MaxBytes. A lease that expires without reporting is counted as fully used: its
//     holder may have fetched every byte before it died.
//
// # Shares
//
// Each holder's target share of connections and rate is computed over all current holders and
// those waiting for a share, relays first: relays split the caps among themselves (up to what each
// asks for) and clients split what is left. Inside a group a holder's share is proportional to its
// weight, bandwidth × priority × history (each 1 by default), and never more than it asked for; what
// a holder does not want goes to the others (water-filling). Connections are whole: the units left
// after rounding down go first to holders that would otherwise get none, longest waiting first, so
// when there are more holders than connections they take turns, one lease period at a time.
//
// Targets are computed over the caps minus a small reserve (5 % by default), while grants may use
// the whole cap: a newcomer gets something at once from the reserve, and the holders above their new
// target shrink when they renew. Nothing is taken back from a live lease; capacity moves at renewal,
// which is why leases are short.
//
// # Byte budget
//
// Limits.MaxBytes applies per fixed window (Limits.Window, default 24 h, aligned to the clock: a
// one-day window runs from midnight UTC). A lease carries a chunk of the remaining budget, enough
// for one lease period at its granted rate; unused bytes return when the holder renews or releases.
// Once 90 % of the budget is spent or granted, rates are scaled down in proportion to what is left
// (never below 10 % of the share, so the rest is used up in finite time); when nothing is left no
// lease is granted until the next window.
//
// # Back-off
//
// Feedback reports each origin answer. A 429, a 5xx, a failed request or a latency more than twice
// the usual halves a capacity factor applied to the caps (at most once per lease period, since the
// effect of a cut only shows once leases renew; never below 10 %). The factor then grows back by
// 10 % of the caps per lease period without trouble (AIMD).
//
// # Restarts
//
// Snapshot holds the window's spent bytes (granted-but-unreported bytes counted as spent) and the
// capacity factor. Restore puts them back and grants nothing for one lease period, because the
// leases the previous process handed out are unknown but may still be in use until they expire.
//
// # Shared state
//
// Export writes the whole state (every lease, the holders waiting, the factor and its timers, the
// byte window, the latency average, the lease id sequence) as a versioned JSON document, and
// Import puts it back into a fresh Allocator, which then answers exactly as the exporter would
// have. Controllers sharing a database run each operation as import, operate, export under the
// origin's lock, so the invariants above hold for all of them together.
package quota
