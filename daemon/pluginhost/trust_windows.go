//go:build windows

package pluginhost

// trusted refuses a plugin executable that an ordinary user owns or may write: the daemon runs
// plugins with its own rights (often SYSTEM).
func trusted(path string) error { return PathAccess(path) }
