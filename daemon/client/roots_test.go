package client

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestAllowed(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	root := filepath.Join(dir, "files")
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	// A link inside the root that leads out of it.
	if err := os.Symlink("/etc", filepath.Join(root, "out")); err != nil {
		t.Fatal(err)
	}
	roots := []string{root, "partition:///dev/disk/by-label/"}
	tests := []struct {
		dest string
		ok   bool
	}{
		{filepath.Join(root, "a.img"), true},
		{filepath.Join(root, "sub", "dir", "a.img"), true}, // below the root, not there yet
		{root + "/../escape.img", false},
		{"/nonexistent/x", false},
		{"relative/x", false},
		{filepath.Join(root, "out", "passwd"), false}, // through a link, out of the root
		{"partition:///dev/disk/by-label/img1", true},
		{"partition:///dev/sda", false},
	}
	for _, tt := range tests {
		err := allowed(tt.dest, roots)
		if (err == nil) != tt.ok {
			t.Errorf("allowed(%q) = %v, want ok %v", tt.dest, err, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrDestination) {
			t.Errorf("allowed(%q): %v is not ErrDestination", tt.dest, err)
		}
	}
}
