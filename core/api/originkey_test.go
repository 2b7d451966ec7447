package api

import "testing"

// An origin key is lower-case scheme://host with a port only when it is not the default, and a
// key is its own key; a URL that names no host has none.
func TestOriginKey(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in, want string
		bad      bool
	}{
		{in: "https://CDN.example.com/a/b.iso", want: "https://cdn.example.com"},
		{in: "http://origin:80/x", want: "http://origin"},
		{in: "https://origin:8443", want: "https://origin:8443"},
		{in: "http://[::1]:8080/f", want: "http://[::1]:8080"},
		{in: "HTTP://:", bad: true},
		{in: "http://:80/x", bad: true},
		{in: "ftp://origin/f", bad: true},
		{in: "origin/f", bad: true},
	} {
		got, err := OriginKey(tc.in)
		if tc.bad {
			if err == nil {
				t.Errorf("OriginKey(%q) = %q, want an error", tc.in, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("OriginKey(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			continue
		}
		if again, err := OriginKey(got); err != nil || again != got {
			t.Errorf("OriginKey(%q) = %q, %v; want it unchanged", got, again, err)
		}
	}
}
