package cli

import (
	"testing"
	"time"
)

func TestParseBandwidth(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want int64
		bad  bool
	}{
		{in: "1Gbit/s", want: 125_000_000},
		{in: "500Mbps", want: 62_500_000},
		{in: "20MiB/s", want: 20 << 20},
		{in: "100MB", want: 100_000_000},
		{in: "0", want: 0},
		{in: "fast", bad: true},
		{in: "-1MiB/s", bad: true},
		{in: "3 furlongs/s", bad: true},
	} {
		got, err := parseBandwidth(tc.in)
		if (err != nil) != tc.bad || (!tc.bad && got != tc.want) {
			t.Errorf("parseBandwidth(%q) = %d, %v; want %d (error: %v)", tc.in, got, err, tc.want, tc.bad)
		}
	}
}

func TestParseWindow(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]time.Duration{"hour": time.Hour, "day": 24 * time.Hour, "12h": 12 * time.Hour, "90m": 90 * time.Minute} {
		if got, err := parseWindow(in); err != nil || got != want {
			t.Errorf("parseWindow(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"10s", "weekly", ""} {
		if _, err := parseWindow(in); err == nil {
			t.Errorf("parseWindow(%q) accepted", in)
		}
	}
}

func TestOriginLimitsUpdate(t *testing.T) {
	t.Parallel()
	u, ok, err := OriginLimits{MaxConns: "64", MaxRate: "1Gbit/s", MaxBytes: "2TB", Window: "day"}.update("https://cdn.example.com/x", "origin-")
	if err != nil || !ok || *u.MaxConns != 64 || *u.MaxRate != 125_000_000 || *u.MaxBytes != 2_000_000_000_000 || *u.WindowS != 86400 {
		t.Fatalf("update: %+v, %v, %v", u, ok, err)
	}
	if _, ok, err := (OriginLimits{}).update("https://cdn.example.com", ""); ok || err != nil {
		t.Errorf("no flags: ok %v, err %v", ok, err)
	}
	if _, _, err := (OriginLimits{MaxConns: "many"}).update("https://cdn.example.com", "origin-"); err == nil {
		t.Error("--origin-max-conns many accepted")
	}
}
