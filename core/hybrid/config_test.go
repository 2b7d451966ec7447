package hybrid

import (
	"strings"
	"testing"
	"time"
)

func TestDefaultConfigValid(t *testing.T) {
	t.Parallel()
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("DefaultConfig().Validate() = %v", err)
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		change func(*Config)
		want   string // substring of the error; "" means valid
	}{
		{"defaults", func(*Config) {}, ""},
		{"edges low", func(c *Config) {
			c.SampleInterval, c.Window, c.Threshold, c.Cooldown = time.Second, 30*time.Second, 100*KiB, time.Minute
			c.HTTPShareCap, c.BTGrace, c.MinSamplesBelow, c.RecoverFactor = 0.10, 5*time.Second, 1, 1
		}, ""},
		{"edges high", func(c *Config) {
			c.SampleInterval, c.Window, c.Threshold, c.Cooldown = 5*time.Second, time.Minute, MiB, 5*time.Minute
			c.HTTPShareCap, c.BTGrace, c.MinSamplesBelow, c.RecoverFactor = 0.5, 5*time.Minute, 30, 2
		}, ""},
		{"sample interval low", func(c *Config) { c.SampleInterval = 500 * time.Millisecond }, "sample interval 0.5s is outside 1s–5s"},
		{"sample interval high", func(c *Config) { c.SampleInterval = 6 * time.Second }, "sample interval 6s is outside 1s–5s"},
		{"window low", func(c *Config) { c.Window = 20 * time.Second }, "window 20s is outside 30s–60s"},
		{"window high", func(c *Config) { c.Window = 90 * time.Second }, "window 90s is outside 30s–60s"},
		{"threshold low", func(c *Config) { c.Threshold = 50 * KiB }, "threshold 50 KiB/s is outside 100 KiB/s–1.0 MiB/s"},
		{"threshold high", func(c *Config) { c.Threshold = 2 * MiB }, "threshold 2.0 MiB/s is outside"},
		{"cooldown low", func(c *Config) { c.Cooldown = 30 * time.Second }, "cooldown 30s is outside 60s–300s"},
		{"cooldown high", func(c *Config) { c.Cooldown = 10 * time.Minute }, "cooldown 600s is outside 60s–300s"},
		{"share cap low", func(c *Config) { c.HTTPShareCap = 0.05 }, "http share cap 0.05 is outside 0.10–0.50"},
		{"share cap high", func(c *Config) { c.HTTPShareCap = 0.8 }, "http share cap 0.80 is outside 0.10–0.50"},
		{"bt grace", func(c *Config) { c.BTGrace = time.Second }, "bt grace 1s is outside 5s–300s"},
		{"min samples", func(c *Config) { c.MinSamplesBelow = 0 }, "min samples below 0 is outside 1–30"},
		{"recover factor", func(c *Config) { c.RecoverFactor = 0.9 }, "recover factor 0.90 is outside 1.0–2.0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.change(&c)
			err := c.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tt.want != "" && err == nil:
				t.Fatalf("Validate() = nil, want %q", tt.want)
			case tt.want != "" && !strings.Contains(err.Error(), tt.want):
				t.Fatalf("Validate() = %q, want it to contain %q", err, tt.want)
			case err != nil && strings.Contains(err.Error(), "\n"):
				t.Fatalf("Validate() = %q spans lines", err)
			}
		})
	}
}

func TestNewPolicyFillsDefaults(t *testing.T) {
	t.Parallel()
	p := NewPolicy(Config{Threshold: 200 * KiB}, t0)
	c := p.Config()
	if c.Threshold != 200*KiB || c.Window != DefaultWindow || c.Cooldown != DefaultCooldown || c.MinSamplesBelow != 3 {
		t.Fatalf("NewPolicy config = %+v", c)
	}
	p.SetThreshold(10 * MiB)
	if got := p.Config().Threshold; got != MaxThreshold {
		t.Fatalf("SetThreshold(10 MiB/s) gives %.0f, want %d", got, MaxThreshold)
	}
}
