package printable

import "testing"

func TestString(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"web-01", "web-01"},
		{"ünïcode ok", "ünïcode ok"},
		{"\x1b[2J\x1b[31mred", "?[2J?[31mred"},
		{"a\tb\nc", "a b c"},
		{"nul\x00", "nul?"},
		{"c1\u009bx", "c1?x"},
		{"abc\u202edcba", "abc?dcba"},
	}
	for _, tt := range tests {
		if got := String(tt.in); got != tt.want {
			t.Errorf("String(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func FuzzString(f *testing.F) {
	f.Add("\x1b]0;title\x07")
	f.Fuzz(func(t *testing.T, s string) {
		for _, r := range String(s) {
			if unsafe(r) {
				t.Fatalf("String(%q) kept %U", s, r)
			}
		}
	})
}
