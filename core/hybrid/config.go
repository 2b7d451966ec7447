package hybrid

import (
	"fmt"
	"time"
)

// Byte units used for rates and sizes.
const (
	KiB = 1024
	MiB = 1024 * KiB
	GiB = 1024 * MiB
)

// Ranges and defaults from the specification. Rates are bytes/s.
const (
	DefaultSampleInterval = 2 * time.Second
	MinSampleInterval     = 1 * time.Second
	MaxSampleInterval     = 5 * time.Second

	DefaultWindow = 45 * time.Second
	MinWindow     = 30 * time.Second
	MaxWindow     = 60 * time.Second

	DefaultThreshold = 500 * KiB
	MinThreshold     = 100 * KiB
	MaxThreshold     = 1 * MiB

	DefaultCooldown = 120 * time.Second
	MinCooldown     = 60 * time.Second
	MaxCooldown     = 300 * time.Second

	DefaultHTTPShareCap = 0.30
	MinHTTPShareCap     = 0.10
	MaxHTTPShareCap     = 0.50

	DefaultBTGrace = 30 * time.Second
	MinBTGrace     = 5 * time.Second
	MaxBTGrace     = 300 * time.Second

	DefaultMinSamplesBelow = 3
	MinMinSamplesBelow     = 1
	MaxMinSamplesBelow     = 30

	DefaultRecoverFactor = 1.2
	MinRecoverFactor     = 1.0
	MaxRecoverFactor     = 2.0
)

// Config tunes the assist policy. The zero value of a field means "default" for NewPolicy;
// Validate checks the values as given.
type Config struct {
	SampleInterval  time.Duration // how often the caller samples and calls Observe
	Window          time.Duration // span of the speed window
	Threshold       float64       // BT rate (bytes/s) below which HTTP assists
	Cooldown        time.Duration // minimum time between two switches
	HTTPShareCap    float64       // HTTP's share of bytes while assisting
	BTGrace         time.Duration // no peer connected for this long means BT is absent
	MinSamplesBelow int           // consecutive samples below (or above) a level before switching
	RecoverFactor   float64       // assisting ends at Threshold × RecoverFactor (hysteresis)
}

// DefaultConfig returns the specification's defaults.
func DefaultConfig() Config {
	return Config{
		SampleInterval:  DefaultSampleInterval,
		Window:          DefaultWindow,
		Threshold:       DefaultThreshold,
		Cooldown:        DefaultCooldown,
		HTTPShareCap:    DefaultHTTPShareCap,
		BTGrace:         DefaultBTGrace,
		MinSamplesBelow: DefaultMinSamplesBelow,
		RecoverFactor:   DefaultRecoverFactor,
	}
}

// withDefaults fills zero fields from DefaultConfig.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.SampleInterval == 0 {
		c.SampleInterval = d.SampleInterval
	}
	if c.Window == 0 {
		c.Window = d.Window
	}
	if c.Threshold == 0 {
		c.Threshold = d.Threshold
	}
	if c.Cooldown == 0 {
		c.Cooldown = d.Cooldown
	}
	if c.HTTPShareCap == 0 {
		c.HTTPShareCap = d.HTTPShareCap
	}
	if c.BTGrace == 0 {
		c.BTGrace = d.BTGrace
	}
	if c.MinSamplesBelow == 0 {
		c.MinSamplesBelow = d.MinSamplesBelow
	}
	if c.RecoverFactor == 0 {
		c.RecoverFactor = d.RecoverFactor
	}
	return c
}

// Validate reports the first field outside its range, naming the field and the range.
func (c Config) Validate() error {
	durs := []struct {
		name      string
		v, lo, hi time.Duration
	}{
		{"sample interval", c.SampleInterval, MinSampleInterval, MaxSampleInterval},
		{"window", c.Window, MinWindow, MaxWindow},
		{"cooldown", c.Cooldown, MinCooldown, MaxCooldown},
		{"bt grace", c.BTGrace, MinBTGrace, MaxBTGrace},
	}
	for _, d := range durs {
		if d.v < d.lo || d.v > d.hi {
			return fmt.Errorf("%s %s is outside %s–%s", d.name, secs(d.v), secs(d.lo), secs(d.hi))
		}
	}
	if c.Window < c.SampleInterval*2 {
		// Fewer than two samples per window give no rate at all.
		return fmt.Errorf("window %s must hold at least two samples of %s", secs(c.Window), secs(c.SampleInterval))
	}
	if c.Threshold < MinThreshold || c.Threshold > MaxThreshold {
		return fmt.Errorf("threshold %s is outside %s–%s", FormatRate(c.Threshold), FormatRate(MinThreshold), FormatRate(MaxThreshold))
	}
	if c.HTTPShareCap < MinHTTPShareCap || c.HTTPShareCap > MaxHTTPShareCap {
		return fmt.Errorf("http share cap %.2f is outside %.2f–%.2f", c.HTTPShareCap, MinHTTPShareCap, MaxHTTPShareCap)
	}
	if c.MinSamplesBelow < MinMinSamplesBelow || c.MinSamplesBelow > MaxMinSamplesBelow {
		return fmt.Errorf("min samples below %d is outside %d–%d", c.MinSamplesBelow, MinMinSamplesBelow, MaxMinSamplesBelow)
	}
	if c.RecoverFactor < MinRecoverFactor || c.RecoverFactor > MaxRecoverFactor {
		return fmt.Errorf("recover factor %.2f is outside %.1f–%.1f", c.RecoverFactor, MinRecoverFactor, MaxRecoverFactor)
	}
	return nil
}

// secs prints a duration as seconds ("45s", "1.5s"), which reads better than "1m0s" in ranges.
func secs(d time.Duration) string {
	return fmt.Sprintf("%gs", d.Seconds())
}

// FormatRate prints a rate in bytes/s for people: "820 B/s", "120 KiB/s", "1.5 MiB/s".
func FormatRate(bps float64) string {
	switch {
	case bps < KiB:
		return fmt.Sprintf("%.0f B/s", bps)
	case bps < MiB:
		return fmt.Sprintf("%.0f KiB/s", bps/KiB)
	default:
		return fmt.Sprintf("%.1f MiB/s", bps/MiB)
	}
}
