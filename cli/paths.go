package cli

import (
	"os"
	"path/filepath"
	"runtime"
)

// DefaultDataDir is where a daemon keeps its database, partial and finished files, and its LocalAPI
// socket, unless --data says otherwise:
//
//   - Linux and other Unix, as root: /var/lib/dist (the FHS place for service state)
//   - Windows: %ProgramData%\dist (machine-wide, like a service)
//   - macOS, not root: ~/Library/Application Support/dist (os.UserConfigDir)
//   - Linux and other Unix, not root: $XDG_DATA_HOME/dist, else ~/.local/share/dist
//
// A per-user place lets a non-root user try dist without touching system directories.
func DefaultDataDir() string {
	switch {
	case runtime.GOOS == "windows":
		if pd := os.Getenv("ProgramData"); pd != "" {
			return filepath.Join(pd, "dist")
		}
		return `C:\ProgramData\dist`
	case os.Geteuid() == 0:
		return "/var/lib/dist"
	case runtime.GOOS == "darwin":
		if dir, err := os.UserConfigDir(); err == nil {
			return filepath.Join(dir, "dist")
		}
	default:
		if x := os.Getenv("XDG_DATA_HOME"); filepath.IsAbs(x) {
			return filepath.Join(x, "dist")
		}
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, ".local", "share", "dist")
		}
	}
	return filepath.Join(os.TempDir(), "dist")
}

// DefaultSocket is the LocalAPI socket of a daemon started with the default data directory.
func DefaultSocket() string { return filepath.Join(DefaultDataDir(), "dist.sock") }

// DefaultConfigFiles are read, when present and no --config/DIST_CONFIG is given, in this order; a
// later file overrides an earlier one: the system file, then the user's own.
//
//   - Unix: /etc/dist/config.json, then $XDG_CONFIG_HOME/dist/config.json (~/.config/dist/config.json;
//     on macOS ~/Library/Application Support/dist/config.json)
//   - Windows: %ProgramData%\dist\config.json, then %AppData%\dist\config.json
func DefaultConfigFiles() []string {
	var files []string
	if runtime.GOOS == "windows" {
		if pd := os.Getenv("ProgramData"); pd != "" {
			files = append(files, filepath.Join(pd, "dist", "config.json"))
		}
	} else {
		files = append(files, "/etc/dist/config.json")
	}
	if dir, err := os.UserConfigDir(); err == nil {
		files = append(files, filepath.Join(dir, "dist", "config.json"))
	}
	return files
}

// hostname is the default host name of a daemon.
func hostname() string {
	h, err := os.Hostname()
	if err != nil {
		return "localhost"
	}
	return h
}
