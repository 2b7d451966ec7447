// Command dist-plugin-sitepolicy is the relay-policy plugin that chooses relays by network site
// from a CIDR → site map (see dist/plugins/sitepolicy). The dist daemon starts it.
package main

import (
	"os"
	"path/filepath"

	"dist/plugins"
	"dist/plugins/sitepolicy"
)

var version = "dev"

func main() {
	log := plugins.Logger()
	path := os.Getenv(sitepolicy.MapEnv)
	if path == "" {
		exe, err := os.Executable()
		if err != nil {
			log.Error("cannot find own executable", "err", err)
			os.Exit(1)
		}
		path = filepath.Join(filepath.Dir(exe), "dist-plugin-sitepolicy.map")
	}
	p, err := sitepolicy.Load(path)
	if err != nil {
		// Logged for the daemon; the handshake never happens, so the daemon falls back.
		log.Error("site map not loaded", "err", err)
		os.Exit(1)
	}
	log.Info("site map loaded", "path", path)
	plugins.ServeRelayPolicy(plugins.Info{Name: sitepolicy.Name, Version: version}, p)
}
