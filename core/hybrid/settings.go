package hybrid

import (
	"fmt"
	"time"

	"dist/core/api"
)

// FromSettings turns a distribution's (or a host's) settings into a policy Config; zero fields
// stay zero, so NewPolicy fills them with the defaults.
func FromSettings(s api.Settings) Config {
	ms := func(v int64) time.Duration { return time.Duration(v) * time.Millisecond }
	return Config{
		SampleInterval: ms(s.SampleMs),
		Window:         ms(s.WindowMs),
		Threshold:      float64(s.Threshold),
		Cooldown:       ms(s.CooldownMs),
		HTTPShareCap:   s.HTTPShare,
		BTGrace:        ms(s.BTGraceMs),
	}
}

// ValidateSettings checks the fields an operator set (non-zero ones) against the specification's
// ranges; it is the check at the CLI and controller boundary.
func ValidateSettings(s api.Settings) error {
	c := DefaultConfig()
	set := FromSettings(s)
	if set.SampleInterval != 0 {
		c.SampleInterval = set.SampleInterval
	}
	if set.Window != 0 {
		c.Window = set.Window
	}
	if set.Threshold != 0 {
		c.Threshold = set.Threshold
	}
	if set.Cooldown != 0 {
		c.Cooldown = set.Cooldown
	}
	if set.HTTPShareCap != 0 {
		c.HTTPShareCap = set.HTTPShareCap
	}
	if set.BTGrace != 0 {
		c.BTGrace = set.BTGrace
	}
	if err := c.Validate(); err != nil {
		return err
	}
	if s.MaxSpeed < 0 || s.TimeoutMs < 0 {
		return fmt.Errorf("max speed %d and timeout %dms must not be negative", s.MaxSpeed, s.TimeoutMs)
	}
	return nil
}
