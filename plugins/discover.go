package plugins

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
)

// Found is a plugin executable in a plugin directory.
type Found struct {
	Name string `json:"name"` // NAME of dist-plugin-NAME
	Path string `json:"path"`
}

// DefaultDirs are searched when no plugin directory is configured: the directory of the running
// dist executable (release archives ship the plugins beside it), then the system's plugin
// directory.
func DefaultDirs() []string {
	var dirs []string
	if exe, err := os.Executable(); err == nil {
		dirs = append(dirs, filepath.Dir(exe))
	}
	return append(dirs, SystemDir())
}

// SystemDir is the operating system's place for dist plugins.
func SystemDir() string {
	switch runtime.GOOS {
	case "windows":
		pd := os.Getenv("ProgramData")
		if pd == "" {
			pd = `C:\ProgramData`
		}
		return filepath.Join(pd, "dist", "plugins")
	case "darwin":
		return "/usr/local/lib/dist/plugins"
	}
	return "/usr/lib/dist/plugins"
}

// Discover lists the plugins in dirs; a name found in two directories counts from the first. A
// missing directory holds no plugins.
func Discover(dirs ...string) ([]Found, error) {
	var out []Found
	seen := map[string]bool{}
	for _, dir := range dirs {
		ents, err := os.ReadDir(dir)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("plugin directory %s: %w", dir, err)
		}
		for _, e := range ents {
			name, ok := pluginName(e.Name())
			if !ok || seen[name] || !executable(dir, e) {
				continue
			}
			seen[name] = true
			out = append(out, Found{Name: name, Path: filepath.Join(dir, e.Name())})
		}
	}
	slices.SortFunc(out, func(a, b Found) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// Find answers the executable of plugin name in dirs.
func Find(name string, dirs ...string) (string, error) {
	found, err := Discover(dirs...)
	if err != nil {
		return "", err
	}
	for _, f := range found {
		if f.Name == name {
			return f.Path, nil
		}
	}
	return "", fmt.Errorf("no plugin %q in %s: install %s%s there or set --plugin-dir", name, strings.Join(dirs, ", "), Prefix, name)
}

func pluginName(file string) (string, bool) {
	if runtime.GOOS == "windows" {
		if !strings.EqualFold(filepath.Ext(file), ".exe") {
			return "", false
		}
		file = strings.TrimSuffix(file, filepath.Ext(file))
	}
	name, ok := strings.CutPrefix(file, Prefix)
	return name, ok && name != ""
}

func executable(dir string, e fs.DirEntry) bool {
	fi, err := os.Stat(filepath.Join(dir, e.Name())) // follows symlinks
	if err != nil || !fi.Mode().IsRegular() {
		return false
	}
	return runtime.GOOS == "windows" || fi.Mode().Perm()&0o111 != 0
}
