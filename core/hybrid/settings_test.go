package hybrid

import (
	"strings"
	"testing"
	"time"

	"dist/core/api"
)

func TestFromSettings(t *testing.T) {
	t.Parallel()
	c := FromSettings(api.Settings{Threshold: 200 * KiB, WindowMs: 30000, SampleMs: 1000, CooldownMs: 60000, HTTPShare: 0.2, BTGraceMs: 5000})
	want := Config{SampleInterval: time.Second, Window: 30 * time.Second, Threshold: 200 * KiB,
		Cooldown: time.Minute, HTTPShareCap: 0.2, BTGrace: 5 * time.Second}
	if c != want {
		t.Fatalf("FromSettings = %+v, want %+v", c, want)
	}
	// Unset fields stay zero, so NewPolicy gives them their defaults.
	p := NewPolicy(FromSettings(api.Settings{WindowMs: 30000}), t0)
	if got := p.Config(); got.Window != 30*time.Second || got.Threshold != DefaultThreshold || got.Cooldown != DefaultCooldown {
		t.Fatalf("policy config %+v", got)
	}
}

func TestValidateSettings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		s    api.Settings
		want string // substring of the error; "" means valid
	}{
		{"nothing set", api.Settings{}, ""},
		{"in range", api.Settings{Threshold: 300 * KiB, WindowMs: 60000, CooldownMs: 300000, HTTPShare: 0.5, MaxSpeed: MiB}, ""},
		{"window too short", api.Settings{WindowMs: 2000}, "window 2s is outside 30s–60s"},
		{"threshold too high", api.Settings{Threshold: 2 * MiB}, "threshold 2.0 MiB/s is outside"},
		{"share too high", api.Settings{HTTPShare: 0.9}, "http share cap 0.90 is outside"},
		{"cooldown too short", api.Settings{CooldownMs: 1000}, "cooldown 1s is outside"},
		{"grace too short", api.Settings{BTGraceMs: 1000}, "bt grace 1s is outside"},
		{"negative timeout", api.Settings{TimeoutMs: -1}, "must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateSettings(tt.s)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("ValidateSettings = %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("ValidateSettings = %v, want %q", err, tt.want)
			}
		})
	}
}
