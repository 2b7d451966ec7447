//go:build !windows

package pluginhost

import (
	"fmt"
	"os"
	"syscall"
)

// trusted refuses a plugin executable that someone other than root or the daemon's user could
// have written: the daemon runs plugins with its own rights (often root).
func trusted(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("plugin %s: %w", path, err)
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("plugin %s is writable by its group or by everyone (%s): refused; chmod go-w it", path, fi.Mode().Perm())
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Uid != 0 && int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("plugin %s is owned by user %d, neither root nor the daemon's user: refused; chown it", path, st.Uid)
	}
	return nil
}
