package cli

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"dist/plugins"
)

// PluginCmd groups the plugin commands.
type PluginCmd struct {
	Ls    PluginLsCmd    `cmd:"" help:"List the plugins found in the plugin directory."`
	Check PluginCheckCmd `cmd:"" help:"Start a plugin, print its info and ask its health."`
}

// pluginDirFlag is the --plugin-dir of the plugin commands, as the daemon's.
type pluginDirFlag struct {
	PluginDir string `help:"Directory of dist-plugin-NAME executables (default: beside dist, then the system's plugin directory)." env:"DIST_PLUGIN_DIR" type:"path" placeholder:"DIR"`
}

func (f pluginDirFlag) dirs() []string {
	if f.PluginDir != "" {
		return []string{f.PluginDir}
	}
	return plugins.DefaultDirs()
}

// PluginLsCmd lists plugin executables without starting them.
type PluginLsCmd struct {
	pluginDirFlag
}

// Run prints NAME and PATH of each plugin.
func (c *PluginLsCmd) Run(g *Globals) error {
	found, err := plugins.Discover(c.dirs()...)
	if err != nil {
		return exitf(ExitError, "%v", err)
	}
	if g.JSON {
		if found == nil {
			found = []plugins.Found{}
		}
		return g.PrintJSON(found)
	}
	if len(found) == 0 {
		g.Notef("no plugins in %v", c.dirs())
		return nil
	}
	t := newTable("NAME", "PATH")
	for _, f := range found {
		t.add(f.Name, f.Path)
	}
	return t.write(g.Out, g.OutColor())
}

// PluginCheckCmd starts one plugin and reports what it says of itself.
type PluginCheckCmd struct {
	pluginDirFlag
	Name    string        `arg:"" help:"Plugin name (NAME of dist-plugin-NAME)." placeholder:"NAME"`
	Timeout time.Duration `help:"How long the plugin may take to start and answer (default: ${default})." default:"20s"`
}

// pluginCheck is the result of `dist plugin check`.
type pluginCheck struct {
	plugins.Info
	Path   string `json:"path"`
	Health string `json:"health"`
}

// Run starts the plugin, prints its info and health, and stops it.
func (c *PluginCheckCmd) Run(g *Globals) error {
	path, err := plugins.Find(c.Name, c.dirs()...)
	if err != nil {
		return exitf(ExitNotFound, "%v", err)
	}
	ctx, cancel := context.WithTimeout(g.Context(), c.Timeout)
	defer cancel()
	// The plugin's own log lines go to stderr with ours.
	log := slog.New(slog.NewTextHandler(g.Err, &slog.HandlerOptions{Level: slog.LevelWarn}))
	pc, err := plugins.Start(ctx, path, log)
	if err != nil {
		return exitf(ExitFailed, "plugin %s: %v", c.Name, err)
	}
	defer pc.Kill()
	health, err := pc.Health(ctx)
	if err != nil {
		return exitf(ExitFailed, "plugin %s: %v", c.Name, err)
	}
	res := pluginCheck{Info: pc.Info, Path: path, Health: health}
	if g.JSON {
		return g.PrintJSON(res)
	}
	_, err = fmt.Fprintf(g.Out, "name:     %s\ntype:     %s\nversion:  %s\napi:      %d (plugin speaks %v)\npath:     %s\nhealth:   %s\n",
		res.Name, res.Type, res.Version, res.APIVersion, res.APIVersions, res.Path, res.Health)
	return err
}
