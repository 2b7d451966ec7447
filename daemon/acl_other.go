//go:build !windows

package daemon

// secureDirs does nothing here: the data directory's mode is set where it is created, and plugins
// are checked for their owner and mode when they are found (pluginhost).
func secureDirs(...string) error { return nil }
