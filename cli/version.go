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
	Commit  string `json:"commit,omitempty"` // the source revision, when the build knows it
	Date    string `json:"date,omitempty"`   // the revision's time, RFC 3339
	Go      string `json:"go"`
	OS      string `json:"os"`
	Arch    string `json:"arch"`
}

// Commit and Date are stamped at build time beside Version; a build from a git checkout fills
// them from the build information when they are not.
var Commit, Date string

func buildInfo() versionInfo {
	v := versionInfo{Version: version(), Commit: Commit, Date: Date, Go: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			switch {
			case s.Key == "vcs.revision" && v.Commit == "":
				v.Commit = s.Value
			case s.Key == "vcs.time" && v.Date == "":
				v.Date = s.Value
			}
		}
	}
	return v
}

// String is the human line: "dist 1.2.3 (commit abc1234 2026-12-01, go1.26.8 linux/amd64)".
func (v versionInfo) String() string {
	build := ""
	if v.Commit != "" {
		build = "commit " + v.Commit[:min(12, len(v.Commit))]
		if v.Date != "" {
			build += " " + v.Date[:min(10, len(v.Date))]
		}
		build += ", "
	}
	return fmt.Sprintf("dist %s (%s%s %s/%s)", v.Version, build, v.Go, v.OS, v.Arch)
}

// Run prints the version line or the same as a JSON object.
func (c *VersionCmd) Run(g *Globals) error {
	v := buildInfo()
	if g.JSON {
		return g.PrintJSON(v)
	}
	_, err := fmt.Fprintln(g.Out, v.String())
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
