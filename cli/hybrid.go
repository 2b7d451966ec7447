package cli

import (
	"fmt"
	"math"
	"time"

	"github.com/alecthomas/kong"

	"dist/core/api"
	"dist/core/hybrid"
)

// HybridFlags tune the hybrid download: BitTorrent first, HTTP assist when it is slow or blocked.
// On `dist push` they are the distribution's settings; on `dist daemon` the host's defaults.
// Unset flags leave the default (see README: hybrid download).
type HybridFlags struct {
	BTThreshold Rate          `name:"bt-threshold" help:"BitTorrent rate below which HTTP assists, before it is adapted to file size, network and swarm (100KiB/s-1MiB/s; default 500KiB/s)." placeholder:"RATE"`
	Window      time.Duration `help:"Sliding window of the BitTorrent speed (30s-60s; default 45s)." placeholder:"DURATION"`
	Sample      time.Duration `help:"Speed sample interval (1s-5s; default 2s)." placeholder:"DURATION"`
	Cooldown    time.Duration `help:"Minimum time between two switches of the download mode (60s-300s; default 120s)." placeholder:"DURATION"`
	HTTPShare   float64       `name:"http-share" help:"Cap of HTTP's share of the bytes while BitTorrent works (0.1-0.5; default 0.3)." placeholder:"FRACTION"`
	BTGrace     time.Duration `name:"bt-grace" help:"No BitTorrent peer for this long makes HTTP the main path (5s-300s; default 30s)." placeholder:"DURATION"`
	MaxSpeed    Rate          `help:"Cap of each client's HTTP piece fetching rate, e.g. 50MiB/s (default: none)." placeholder:"RATE"`
	TaskTimeout time.Duration `help:"A client that has not finished after this long fails (default: never)." placeholder:"DURATION"`
	NoAssist    bool          `name:"no-http-assist" help:"BitTorrent only: never fetch pieces over HTTP."`
}

// settings answers the flags as settings, nil when none is set. Values outside the
// specification's ranges are usage errors.
func (h HybridFlags) settings() (*api.Settings, error) {
	s := api.Settings{
		Threshold: int64(h.BTThreshold), WindowMs: h.Window.Milliseconds(), SampleMs: h.Sample.Milliseconds(),
		CooldownMs: h.Cooldown.Milliseconds(), HTTPShare: h.HTTPShare, BTGraceMs: h.BTGrace.Milliseconds(),
		MaxSpeed: int64(h.MaxSpeed), TimeoutMs: h.TaskTimeout.Milliseconds(), NoAssist: h.NoAssist,
	}
	if s == (api.Settings{}) {
		return nil, nil
	}
	if h.Window < 0 || h.Sample < 0 || h.Cooldown < 0 || h.BTGrace < 0 || h.TaskTimeout < 0 || h.HTTPShare < 0 {
		return nil, usageError{fmt.Errorf("hybrid settings must not be negative")}
	}
	// Each flag alone first, so that the error names the flag the operator typed.
	for _, one := range []struct {
		flag, value string
		s           api.Settings
	}{
		{"--bt-threshold", hybrid.FormatRate(float64(h.BTThreshold)), api.Settings{Threshold: s.Threshold}},
		{"--window", h.Window.String(), api.Settings{WindowMs: s.WindowMs}},
		{"--sample", h.Sample.String(), api.Settings{SampleMs: s.SampleMs}},
		{"--cooldown", h.Cooldown.String(), api.Settings{CooldownMs: s.CooldownMs}},
		{"--http-share", fmt.Sprint(h.HTTPShare), api.Settings{HTTPShare: s.HTTPShare}},
		{"--bt-grace", h.BTGrace.String(), api.Settings{BTGraceMs: s.BTGraceMs}},
	} {
		if one.s == (api.Settings{}) {
			continue
		}
		if err := hybrid.ValidateSettings(one.s); err != nil {
			return nil, usageError{fmt.Errorf("%s %s: %w", one.flag, one.value, err)}
		}
	}
	if err := hybrid.ValidateSettings(s); err != nil {
		return nil, usageError{fmt.Errorf("hybrid settings: %w", err)}
	}
	return &s, nil
}

// Rate is a flag value for bytes per second: a size with an optional "/s" ("500KiB/s", "2MiB").
type Rate int64

// Decode implements kong.MapperValue.
func (r *Rate) Decode(ctx *kong.DecodeContext) error {
	t, err := ctx.Scan.PopValue("rate")
	if err != nil {
		return err
	}
	switch v := t.Value.(type) {
	case string:
		n, err := parseBandwidth(v)
		if err != nil {
			return err
		}
		*r = Rate(n)
	case float64: // a JSON number in the config file
		if v < 0 || v != math.Trunc(v) || v >= math.MaxInt64 {
			return fmt.Errorf("invalid rate %v", v)
		}
		*r = Rate(v)
	default:
		return fmt.Errorf("invalid rate %v (of type %T)", t.Value, t.Value)
	}
	return nil
}
