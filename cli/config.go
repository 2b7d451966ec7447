package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sort"
	"strings"

	"github.com/alecthomas/kong"
)

// Config files are JSON objects whose keys are long flag names ("controller", "bt-listen" or
// "bt_listen", "label": {"site": "ams1"}), read through kong's JSON resolver.
//
// Precedence is default < config file < environment < command line. Kong on its own applies an
// environment variable while resetting flags to their defaults and runs resolvers afterwards, for
// every flag not given on the command line, so a config file would beat the environment. The
// resolver below steps aside for a flag whose environment variable is set, which restores the
// order people expect (a one-off DIST_CONTROLLER=... must win over /etc/dist/config.json).
//
// A flag tagged config:"-" is never read from a file: per-push choices such as --to or --name in a
// shared config file would silently apply to every push.

// configResolver wraps kong's JSON resolver for one file.
type configResolver struct {
	path  string
	keys  []string // normalised keys present in the file
	inner kong.Resolver
}

// loadConfig is the kong.ConfigurationLoader: it accepts "bt-listen" as well as kong's "bt_listen"
// and "btListen" spellings.
func loadConfig(r io.Reader) (kong.Resolver, error) {
	var raw map[string]any
	if err := json.NewDecoder(r).Decode(&raw); err != nil {
		return nil, fmt.Errorf("parse json: %w", err)
	}
	norm := make(map[string]any, len(raw))
	keys := make([]string, 0, len(raw))
	for k, v := range raw {
		nk := strings.ReplaceAll(k, "-", "_")
		norm[nk] = v
		keys = append(keys, nk)
	}
	sort.Strings(keys)
	b, err := json.Marshal(norm)
	if err != nil {
		return nil, fmt.Errorf("encode config: %w", err)
	}
	inner, err := kong.JSON(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("parse json: %w", err)
	}
	return &configResolver{keys: keys, inner: inner}, nil
}

// Resolve implements kong.Resolver.
func (c *configResolver) Resolve(ctx *kong.Context, parent *kong.Path, flag *kong.Flag) (any, error) {
	if flag.Tag.Get("config") == "-" {
		return nil, nil
	}
	for _, env := range flag.Envs {
		if _, ok := os.LookupEnv(env); ok {
			return nil, nil // the environment beats the file
		}
	}
	return c.inner.Resolve(ctx, parent, flag)
}

// Validate implements kong.Resolver: a key that is no flag of any command is a typo, and a typo in
// a config file read by cron must fail loudly rather than be ignored.
func (c *configResolver) Validate(app *kong.Application) error {
	allowed := map[string]bool{}
	_ = kong.Visit(app, func(node kong.Visitable, next kong.Next) error {
		if f, ok := node.(*kong.Flag); ok && f.Tag.Get("config") != "-" {
			allowed[strings.ReplaceAll(f.Name, "-", "_")] = true
			allowed[camelCase(f.Name)] = true
		}
		return next(nil)
	})
	for _, k := range c.keys {
		if !allowed[k] {
			return fmt.Errorf("config file %s: unknown key %q", c.path, k)
		}
	}
	return nil
}

// camelCase spells a flag name the way kong's JSON resolver also accepts it: bt-listen → btListen.
func camelCase(name string) string {
	parts := strings.Split(name, "-")
	for i := 1; i < len(parts); i++ {
		if parts[i] != "" {
			parts[i] = strings.ToUpper(parts[i][:1]) + parts[i][1:]
		}
	}
	return strings.Join(parts, "")
}

// addConfigResolvers loads the config file named by --config or DIST_CONFIG, which must exist, or
// else the default files that exist. It runs before kong's resolvers are applied.
func addConfigResolvers(k *kong.Kong, ctx *kong.Context) error {
	path := ""
	for _, f := range ctx.Model.Flags {
		if f.Name == "config" {
			path, _ = ctx.FlagValue(f).(string)
		}
	}
	files := []string{path}
	if path == "" {
		files = DefaultConfigFiles()
	}
	for _, file := range files {
		r, err := k.LoadConfig(file)
		switch {
		case path == "" && (errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission)):
			continue // default files are optional, and a system file may be readable by root only
		case errors.Is(err, fs.ErrNotExist):
			return fmt.Errorf("config file %s: no such file", file)
		case err != nil:
			return fmt.Errorf("config file %s: %w", file, err)
		}
		if cr, ok := r.(*configResolver); ok {
			cr.path = file
		}
		ctx.AddResolver(r)
	}
	return nil
}
