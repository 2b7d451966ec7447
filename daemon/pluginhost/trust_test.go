//go:build !windows

package pluginhost

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTrustedRefusesWritablePlugins(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, tc := range []struct {
		mode os.FileMode
		want string
	}{{0o755, ""}, {0o775, "writable"}, {0o757, "writable"}} {
		p := filepath.Join(dir, "dist-plugin-x"+tc.mode.String())
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, tc.mode); err != nil { // past the umask
			t.Fatal(err)
		}
		err := trusted(p)
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("mode %s: %v, want %q", tc.mode, err, tc.want)
		}
	}
}
