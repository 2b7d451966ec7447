package cli

import (
	"slices"
	"strings"
	"testing"
	"time"

	"dist/core/api"
)

func TestHybridFlagsSettings(t *testing.T) {
	t.Parallel()
	set, err := HybridFlags{}.settings()
	if err != nil || set != nil {
		t.Fatalf("no flag: %+v, %v; want nil settings", set, err)
	}
	set, err = HybridFlags{BTThreshold: 200 << 10, Window: 30 * time.Second, HTTPShare: 0.2, TaskTimeout: time.Hour, MaxSpeed: 50 << 20}.settings()
	want := api.Settings{Threshold: 200 << 10, WindowMs: 30000, HTTPShare: 0.2, TimeoutMs: 3600000, MaxSpeed: 50 << 20}
	if err != nil || set == nil || *set != want {
		t.Fatalf("settings %+v, %v; want %+v", set, err, want)
	}
	for _, bad := range []HybridFlags{{Window: 10 * time.Second}, {HTTPShare: 0.9}, {BTThreshold: 10 << 20}, {Cooldown: -time.Second}} {
		if _, err := bad.settings(); err == nil {
			t.Errorf("%+v accepted", bad)
		} else if _, ok := err.(usageError); !ok {
			t.Errorf("%+v: %v is not a usage error", bad, err)
		}
	}
}

func TestParseRate(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]int64{"200KiB/s": 200 << 10, "1MiB": 1 << 20, "1048576": 1 << 20, " 2 MiB/s ": 2 << 20} {
		if got, err := parseBandwidth(in); err != nil || got != want {
			t.Errorf("parseBandwidth(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	if _, err := parseBandwidth("fast"); err == nil || !strings.Contains(err.Error(), "500KiB/s") {
		t.Errorf("parseBandwidth(fast) = %v, want an error that shows a rate", err)
	}
}

func TestDemoHybridOptions(t *testing.T) {
	t.Parallel()
	c := DemoCmd{Clients: 6, BTBlocked: 2, BTSlow: "2:200KiB/s"}
	h, err := c.hybridOptions()
	if err != nil {
		t.Fatal(err)
	}
	if h.blocked != 2 || h.slow != 2 || h.rate != 200<<10 || h.settings == nil || h.settings.WindowMs != 30000 || h.settings.BTGraceMs != 5000 {
		t.Fatalf("options %+v (settings %+v)", h, h.settings)
	}
	o := DemoOptions{BTBlocked: h.blocked, BTSlow: h.slow, BTSlowRate: h.rate}
	cases := map[string][]string{
		"client-1": {"--bt-blocked"}, "client-2": {"--bt-blocked"},
		"client-3": {"--bt-download-rate", "204800"}, "client-4": {"--bt-download-rate", "204800"},
		"client-5": nil, "relay-1": nil,
	}
	for host, want := range cases {
		if got := o.clientArgs(host); !slices.Equal(got, want) {
			t.Errorf("clientArgs(%s) = %q, want %q", host, got, want)
		}
	}
	for _, bad := range []DemoCmd{{Clients: 2, BTBlocked: 3}, {Clients: 6, BTSlow: "2"}, {Clients: 6, BTSlow: "x:1MiB"}, {Clients: 6, BTBlocked: -1}} {
		if _, err := bad.hybridOptions(); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
	// Without blocked or slow clients the demo keeps the defaults.
	if h, err := (&DemoCmd{Clients: 6}).hybridOptions(); err != nil || h.settings != nil {
		t.Errorf("plain demo: %+v, %v", h, err)
	}
}
