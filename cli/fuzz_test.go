package cli

import (
	"strings"
	"testing"
)

// FuzzParseRatesAndSizes: rates, sizes and windows from flags, the environment and config files
// never panic their parsers, and what they accept is not negative.
func FuzzParseRatesAndSizes(f *testing.F) {
	for _, s := range []string{"500KiB/s", "1Gbit/s", "2TB", "0", "1.5MiB", "day", "12h", "-1", "9999999999999999999EiB", "1e400"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if n, err := parseBandwidth(s); err == nil && n < 0 {
			t.Fatalf("parseBandwidth(%q) = %d", s, n)
		}
		if n, err := parseSize(s); err == nil && n < 0 {
			t.Fatalf("parseSize(%q) = %d", s, n)
		}
		if d, err := parseWindow(s); err == nil && d <= 0 {
			t.Fatalf("parseWindow(%q) = %s", s, d)
		}
	})
}

// FuzzConfigFile: a config file of any content gives a resolver or a clear error, never a panic.
func FuzzConfigFile(f *testing.F) {
	for _, s := range []string{`{"listen": ":7700", "label": {"site": "ams1"}}`, `{"bt-threshold": 500000}`, `[]`, `{"role": ["client"]}`, `nul`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = loadConfig(strings.NewReader(s))
	})
}
