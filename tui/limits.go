package tui

import (
	"context"
	"fmt"
	"time"

	"dist/core/api"
)

// originLimits reads GET /v1/origins and turns each origin into three gauges: connections,
// bandwidth and bytes in the current window, each against the policy's cap.
func originLimits(ctx context.Context, c *api.Client) ([]Limit, error) {
	os, err := c.Origins(ctx, "")
	if err != nil {
		return nil, err
	}
	return limitsOf(os), nil
}

// limitsOf is the pure part of originLimits.
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
