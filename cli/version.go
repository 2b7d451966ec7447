package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// VersionCmd prints the version.
type VersionCmd struct{}

// versionInfo is the JSON form of dist version.
type versionInfo struct {
	Version string `json:"version"`
	Go      string `json:"go"`
	OS      string `json:"os"`
	Arch    string `json:"arch"`
}

// Run prints "dist VERSION (goX linux/amd64)" or the same as a JSON object.
func (c *VersionCmd) Run(g *Globals) error {
	v := versionInfo{Version: version(), Go: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH}
	if g.JSON {
		return g.PrintJSON(v)
	}
	_, err := fmt.Fprintf(g.Out, "dist %s (%s %s/%s)\n", v.Version, v.Go, v.OS, v.Arch)
	return err
}

// version is Version, or the module version the go command stamped when -ldflags did not set it
// (go install dist@v1.2.3).
func version() string {
	if Version != "dev" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return Version
}
