package cli

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"dist/core/api"
	"dist/core/hybrid"
)

// demoHybrid is what --bt-blocked, --bt-slow and the hybrid flags ask of a demo.
type demoHybrid struct {
	blocked, slow int
	rate          int64
	settings      *api.Settings
}

// hybridOptions checks the demo's hybrid flags. With a blocked or slow client and no explicit
// settings, the demo reacts as fast as the specification's ranges allow (1 s samples over a 30 s
// window, BitTorrent declared absent after 5 s without a peer), so assist shows within a minute.
func (c *DemoCmd) hybridOptions() (demoHybrid, error) {
	var h demoHybrid
	if c.BTBlocked < 0 {
		return h, usageError{errors.New("--bt-blocked must not be negative")}
	}
	h.blocked = c.BTBlocked
	if c.BTSlow != "" {
		n, r, ok := strings.Cut(c.BTSlow, ":")
		cnt, err := strconv.Atoi(strings.TrimSpace(n))
		if !ok || err != nil || cnt < 0 {
			return h, usageError{fmt.Errorf("--bt-slow %q: give N:RATE such as 2:200KiB/s", c.BTSlow)}
		}
		rate, err := parseBandwidth(r)
		if err != nil || rate <= 0 {
			return h, usageError{fmt.Errorf("--bt-slow %q: give N:RATE such as 2:200KiB/s", c.BTSlow)}
		}
		h.slow, h.rate = cnt, rate
	}
	if h.blocked+h.slow > c.Clients {
		return h, usageError{fmt.Errorf("--bt-blocked %d and --bt-slow %d ask for more than the %d clients", h.blocked, h.slow, c.Clients)}
	}
	hf := c.Hybrid
	if h.blocked+h.slow > 0 {
		if hf.Sample == 0 {
			hf.Sample = hybrid.MinSampleInterval
		}
		if hf.Window == 0 {
			hf.Window = hybrid.MinWindow
		}
		if hf.BTGrace == 0 {
			hf.BTGrace = hybrid.MinBTGrace
		}
		if hf.Cooldown == 0 {
			hf.Cooldown = hybrid.MinCooldown
		}
	}
	set, err := hf.settings()
	if err != nil {
		return h, err
	}
	h.settings = set
	return h, nil
}

// clientArgs are the extra daemon flags of a demo host: the first BTBlocked clients are blocked,
// the next BTSlow ones throttled.
func (o DemoOptions) clientArgs(name string) []string {
	switch i := demoClientIndex(name); {
	case i < 1:
		return nil
	case i <= o.BTBlocked:
		return []string{"--bt-blocked"}
	case i <= o.BTBlocked+o.BTSlow:
		return []string{"--bt-download-rate", strconv.FormatInt(o.BTSlowRate, 10)}
	}
	return nil
}

// clientBT describes a demo client's BitTorrent for the result.
func (o DemoOptions) clientBT(name string) string {
	switch i := demoClientIndex(name); {
	case i >= 1 && i <= o.BTBlocked:
		return "blocked"
	case i > o.BTBlocked && i <= o.BTBlocked+o.BTSlow:
		return hybrid.FormatRate(float64(o.BTSlowRate))
	}
	return "ok"
}

// demoClientIndex answers N of "client-N", 0 for other hosts.
func demoClientIndex(name string) int {
	n, ok := strings.CutPrefix(name, "client-")
	if !ok {
		return 0
	}
	i, err := strconv.Atoi(n)
	if err != nil {
		return 0
	}
	return i
}
