// Package hybrid decides, on a client, when BitTorrent needs help from HTTP.
//
// Everything here is pure: the caller samples its byte counters every Config.SampleInterval and
// passes the time in, so the logic runs the same under a fake clock in tests.
//
// # Speed window
//
// Window keeps samples of a monotonic counter of useful BitTorrent bytes and answers the average
// rate over the last Config.Window (45 s by default). A window that does not yet span its full length
// is not trusted for switching: a torrent that has just started is always "slow".
//
// # Modes
//
// A Policy is in one of three modes:
//
//   - "bt" (ModeBT): BitTorrent alone; HTTP fetches nothing.
//   - "assisting" (ModeAssist): BitTorrent is slow; HTTP fetches missing pieces (rarest first) but
//     its share of the bytes received since assisting began stays at or below Config.HTTPShareCap.
//   - "http-main" (ModeHTTPMain): BitTorrent is absent (no peer connected for Config.BTGrace, or
//     every connection attempt failing, as on networks that block P2P); HTTP carries the download
//     without a share cap. The origin is still protected by the controller's leases.
//
// Rules, applied once per sample:
//
//   - bt → assisting after Config.MinSamplesBelow consecutive samples whose full-window rate is
//     below the threshold. A single dip does not move the window far enough, and one sample below
//     is not enough either.
//   - assisting → bt after as many consecutive samples at or above threshold × RecoverFactor
//     (1.2 by default). The gap between the two levels is the hysteresis that keeps a rate hovering
//     around the threshold from toggling the mode.
//   - bt or assisting → http-main at once when BitTorrent is absent: waiting would only delay a host
//     that cannot use BitTorrent at all.
//   - http-main → assisting (or straight to bt when the rate already clears the recovery level) once
//     peers are connected again and the window rate is back at or above the threshold for
//     MinSamplesBelow samples.
//   - Every switch except the one into http-main waits until Config.Cooldown has passed since the
//     previous switch.
//
// # HTTP share cap
//
// While assisting, with b BitTorrent bytes and h HTTP bytes received since assisting began, HTTP may
// fetch while h ≤ cap × (b + h), that is h ≤ cap/(1−cap) × b. Decision.HTTPBudget is what remains
// of that allowance now. It starts at zero and grows as BitTorrent delivers; a fetcher takes a piece
// (or a Range of one) only when the budget covers it. In bt mode the budget is 0; in http-main it is
// -1 (no cap).
//
// # Threshold
//
// The base threshold (500 KiB/s) is adapted per download by AdaptThreshold; see its comment.
package hybrid
