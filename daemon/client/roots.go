package client

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"dist/daemon/pluginhost"
)

// ErrDestination is a destination this host refuses: relative, or outside its destination
// roots. The task fails at once, before any byte is fetched.
var ErrDestination = errors.New("destination refused")

// allowed checks a destination against the host's roots: an absolute path must lie below a root
// path (after resolving the links of the part that exists, so a link cannot lead out), and a
// device URI must start with a root URI (partition:///dev/).
func allowed(dest string, roots []string) error {
	if pluginhost.IsURI(dest) {
		for _, r := range roots {
			if pluginhost.IsURI(r) && strings.HasPrefix(dest, r) {
				return nil
			}
		}
		return fmt.Errorf("%w: %s is outside this host's destination roots (%s): allow it with --dest-root on the host", ErrDestination, dest, strings.Join(roots, ", "))
	}
	if !filepath.IsAbs(dest) {
		return fmt.Errorf("%w: %s is a relative path: give an absolute path below %s", ErrDestination, dest, strings.Join(roots, ", "))
	}
	real := resolveExisting(filepath.Clean(dest))
	for _, r := range roots {
		if pluginhost.IsURI(r) || !filepath.IsAbs(r) {
			continue
		}
		root := resolveExisting(filepath.Clean(r))
		if rel, err := filepath.Rel(root, real); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return nil
		}
	}
	return fmt.Errorf("%w: %s is outside this host's destination roots (%s): allow it with --dest-root on the host", ErrDestination, dest, strings.Join(roots, ", "))
}

// allowedBase checks a push's base (an older version elsewhere, read-only) as a destination is
// checked: a file path below the host's roots, and only for a file destination, since a device is
// updated in place from what it holds.
func allowedBase(base, dest string, roots []string) error {
	if base == "" {
		return nil
	}
	if pluginhost.IsURI(base) || pluginhost.IsURI(dest) {
		return fmt.Errorf("%w: base %s: a base is a file path for a file destination (a device is its own base): push without --base", ErrDestination, base)
	}
	if err := allowed(base, roots); err != nil {
		return fmt.Errorf("base: %w", err)
	}
	return nil
}

// resolveExisting resolves the links of the longest existing prefix of path and appends the rest.
func resolveExisting(path string) string {
	rest := ""
	for p := path; ; {
		if r, err := filepath.EvalSymlinks(p); err == nil {
			return filepath.Join(r, rest)
		}
		parent := filepath.Dir(p)
		if parent == p {
			return path
		}
		rest = filepath.Join(filepath.Base(p), rest)
		p = parent
	}
}

// rootsOrDefault answers the configured roots, or <data>/files.
func rootsOrDefault(roots []string, data string) []string {
	if len(roots) > 0 {
		return roots
	}
	return []string{filepath.Join(data, "files")}
}
