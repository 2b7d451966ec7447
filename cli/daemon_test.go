package cli

import (
	"bytes"
	"context"
	"log/slog"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"dist/core/api"
	"dist/daemon"
)

// daemonConfig parses a daemon command line and returns the daemon.Config it would run with.
func daemonConfig(t *testing.T, args ...string) daemon.Config {
	t.Helper()
	var c CLI
	var out, errb bytes.Buffer
	k, err := NewParser(&c, &out, &errb)
	if err != nil {
		t.Fatal(err)
	}
	kctx, err := k.Parse(append([]string{"daemon"}, args...))
	if err != nil {
		t.Fatalf("parse %v: %v", args, err)
	}
	c.setup(context.Background(), &out, &errb, explicitFlags(kctx))
	cfg, err := c.Daemon.config(&c.Globals)
	if err != nil {
		t.Fatalf("config %v: %v", args, err)
	}
	return cfg
}

func TestDaemonConfig(t *testing.T) {
	tests := []struct {
		name  string
		env   map[string]string
		args  []string
		check func(t *testing.T, cfg daemon.Config)
	}{
		{"controller talks to itself", nil, []string{"--role", "controller,relay"}, func(t *testing.T, cfg daemon.Config) {
			if cfg.Controller != "" || !slices.Equal(cfg.Roles, []api.Role{"controller", "relay"}) {
				t.Errorf("controller %q roles %v", cfg.Controller, cfg.Roles)
			}
		}},
		{"client gets the default controller", nil, []string{"--role", "client,client"}, func(t *testing.T, cfg daemon.Config) {
			if cfg.Controller != "https://127.0.0.1:7700" || !slices.Equal(cfg.Roles, []api.Role{"client"}) {
				t.Errorf("controller %q roles %v", cfg.Controller, cfg.Roles)
			}
		}},
		{"explicit controller is kept", nil, []string{"--role", "controller", "--controller", "http://ctl:7700"}, func(t *testing.T, cfg daemon.Config) {
			if cfg.Controller != "http://ctl:7700" {
				t.Errorf("controller %q", cfg.Controller)
			}
		}},
		{"socket defaults to the data dir", nil, []string{"--role", "relay", "--data", "/srv/dist"}, func(t *testing.T, cfg daemon.Config) {
			if cfg.Socket != "" || cfg.Data != "/srv/dist" {
				t.Errorf("socket %q data %q", cfg.Socket, cfg.Data)
			}
		}},
		{"flags", nil, []string{"--role", "client", "--socket", "/run/d.sock", "--token", "ht", "--name", "web1",
			"--label", "site=ams1", "--label", "rack=4", "--listen", "127.0.0.1:0", "--bt-listen", "127.0.0.1:0",
			"--advertise", "https://web1:7700", "--admin-token", "at", "--host-token", "hk", "--ready-file", "/tmp/r.json", "--log-level", "debug",
			"--ca-fingerprint", "SHA256:" + strings.Repeat("AB", 32)},
			func(t *testing.T, cfg daemon.Config) {
				want := daemon.Config{Roles: []api.Role{"client"}, Listen: "127.0.0.1:0", Advertise: "https://web1:7700", BTListen: "127.0.0.1:0",
					Data: cfg.Data, Controller: "https://127.0.0.1:7700", Token: "ht", AdminToken: "at", HostToken: "hk", Name: "web1",
					Socket: "/run/d.sock", ReadyFile: "/tmp/r.json", CAFingerprint: "sha256:" + strings.Repeat("ab", 32)}
				if !maps.Equal(cfg.Labels, map[string]string{"site": "ams1", "rack": "4"}) {
					t.Errorf("labels %v", cfg.Labels)
				}
				if !cfg.Logger.Enabled(context.Background(), slog.LevelDebug) {
					t.Error("log level debug not applied")
				}
				cfg.Labels, cfg.Logger = nil, nil
				if !equalConfig(cfg, want) {
					t.Errorf("config\n%+v\nwant\n%+v", cfg, want)
				}
			}},
		{"config file", map[string]string{"DIST_CONFIG": "FILE"}, []string{"--listen", ":9000"}, func(t *testing.T, cfg daemon.Config) {
			if !slices.Equal(cfg.Roles, []api.Role{"relay"}) || cfg.BTListen != ":7000" || cfg.Listen != ":9000" ||
				cfg.Labels["site"] != "a" || cfg.Controller != "http://ctl:7700" || !cfg.Logger.Enabled(context.Background(), slog.LevelDebug) {
				t.Errorf("config %+v", cfg)
			}
		}},
		{"environment", map[string]string{"DIST_ROLE": "relay,client", "DIST_LISTEN": ":8800", "DIST_BT_LISTEN": ":6999",
			"DIST_LABEL": "site=ams1;rack=4", "DIST_NAME": "r1", "DIST_HOST_TOKEN": "hk", "DIST_SOCKET": "/run/x.sock"}, nil,
			func(t *testing.T, cfg daemon.Config) {
				if !slices.Equal(cfg.Roles, []api.Role{"relay", "client"}) || cfg.Listen != ":8800" || cfg.BTListen != ":6999" ||
					cfg.Name != "r1" || cfg.HostToken != "hk" || cfg.Socket != "/run/x.sock" || len(cfg.Labels) != 2 {
					t.Errorf("config %+v", cfg)
				}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			isolate(t)
			for k, v := range tc.env {
				if v == "FILE" {
					v = writeConfig(t, filepath.Join(t.TempDir(), "config.json"), map[string]any{
						"role": []string{"relay"}, "bt-listen": ":7000", "listen": ":8000", "log_level": "debug",
						"label": map[string]string{"site": "a"}, "controller": "http://ctl:7700",
					})
				}
				t.Setenv(k, v)
			}
			tc.check(t, daemonConfig(t, tc.args...))
		})
	}
}

func equalConfig(a, b daemon.Config) bool {
	return slices.Equal(a.Roles, b.Roles) && a.Listen == b.Listen && a.Advertise == b.Advertise && a.BTListen == b.BTListen &&
		a.Data == b.Data && a.Controller == b.Controller && a.Token == b.Token && a.AdminToken == b.AdminToken &&
		a.HostToken == b.HostToken && a.Name == b.Name && a.Socket == b.Socket && a.ReadyFile == b.ReadyFile &&
		a.CAFingerprint == b.CAFingerprint
}
