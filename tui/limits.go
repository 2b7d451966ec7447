package tui

import (
	"fmt"
	"time"

	"dist/core/api"
)

// originRateWindow is how far back the measured origin rate looks: hosts account for the bytes
// they took at each lease renewal, every half lease period (5 s by default), so a shorter look
// would swing between nothing and a burst.
const originRateWindow = 15 * time.Second

// originRateMin is the shortest look that gives a measured origin rate: one renewal period.
const originRateMin = 5 * time.Second

// measure sets each bandwidth gauge's measured rate from the origin's spent bytes: what the hosts
// report taking from it, whatever their leases hold (nothing at all without a cap).
func (f *filler) measure(ls []Limit, os []api.OriginStatus, now time.Time) {
	spent := map[string]int64{}
	for _, o := range os {
		spent[o.Origin] = o.Spent
	}
	for i := range ls {
		if ls[i].Name != "bandwidth" {
			continue
		}
		key := "o/" + ls[i].Origin
		ls[i].Measured = f.r.rateOver(key, now, spent[ls[i].Origin], originRateWindow)
		if rs := f.r.last[key]; len(rs) > 0 && now.Sub(rs[0].at) < originRateMin {
			ls[i].Measured = -1 // less than one renewal in view: a step would read as a burst
		}
	}
}

// limitsOf turns each origin of GET /v1/origins into three gauges: connections, bandwidth and
// bytes in the current window, each against the policy's cap.
func limitsOf(os []api.OriginStatus) []Limit {
	var out []Limit
	for _, o := range os {
		window := time.Duration(o.WindowS) * time.Second
		if window <= 0 {
			window = 24 * time.Hour
		}
		out = append(out,
			Limit{Origin: o.Origin, Name: "connections", Unit: UnitConns, Used: float64(o.Conns), Cap: float64(o.MaxConns)},
			Limit{Origin: o.Origin, Name: "bandwidth", Unit: UnitRate, Used: float64(o.Rate), Cap: float64(o.MaxRate)},
			Limit{Origin: o.Origin, Name: "bytes", Unit: UnitBytes, Used: float64(o.Spent), Cap: float64(o.MaxBytes), Window: windowName(window)},
		)
	}
	return out
}

// windowName renders a budget window: "24h", "1h", "90m".
func windowName(d time.Duration) string {
	if d%time.Hour == 0 {
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dm", int(d.Minutes()))
}
