package cli

import "testing"

func TestParseSize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true},
		{"1048576", 1 << 20, true},
		{"512B", 512, true},
		{"4KiB", 4 << 10, true},
		{"4MiB", 4 << 20, true},
		{"4mib", 4 << 20, true},
		{"16 MiB", 16 << 20, true},
		{"2GiB", 2 << 30, true},
		{"1TiB", 1 << 40, true},
		{"4M", 4 << 20, true},
		{"1G", 1 << 30, true},
		{"4KB", 4000, true},
		{"4MB", 4_000_000, true},
		{"1GB", 1_000_000_000, true},
		{"1.5GiB", 3 << 29, true},
		{"0.5KiB", 512, true},
		{" 8MiB ", 8 << 20, true},
		{"", 0, false},
		{"MiB", 0, false},
		{"-4MiB", 0, false},
		{"4XB", 0, false},
		{"4 parsecs", 0, false},
		{"1.2.3MiB", 0, false},
		{"9999999999999999999", 0, false},
		{"99999999999GiB", 0, false},
	}
	for _, tc := range tests {
		got, err := parseSize(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseSize(%q) = %d, %v; want %d, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestHumanBytes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   int64
		want string
	}{
		{0, "0 B"},
		{1023, "1023 B"},
		{1024, "1.0 KiB"},
		{4 << 20, "4.0 MiB"},
		{3 << 29, "1.5 GiB"},
		{256 << 30, "256.0 GiB"},
		{5 << 40, "5.0 TiB"},
	}
	for _, tc := range tests {
		if got := humanBytes(tc.in); got != tc.want {
			t.Errorf("humanBytes(%d) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
