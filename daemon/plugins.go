package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"dist/core/selection"
	"dist/plugins"
)

// PolicyTimeout bounds one call to a relay-policy plugin; past it the controller falls back to the
// built-in policy.
const PolicyTimeout = 5 * time.Second

// openTimeout bounds opening a device through an origin-IO plugin (the plugin's start included).
const openTimeout = 30 * time.Second

// pluginManager starts plugins on demand from the plugin directories, keeps one process per
// plugin, and starts a plugin again when it has exited (crashed or killed) since it was last used.
// The zero value works once dirs and log are set; close stops every plugin.
type pluginManager struct {
	mu      sync.Mutex
	dirs    []string
	log     *slog.Logger
	running map[string]*plugins.Client
	closed  bool
}

// pluginDirs are the directories searched for plugins: --plugin-dir, else the defaults.
func (c Config) pluginDirs() []string {
	if c.PluginDir != "" {
		return []string{c.PluginDir}
	}
	return plugins.DefaultDirs()
}

// plugins answers the daemon's plugin manager, set up on first use.
func (d *Daemon) plugins() *pluginManager {
	d.pm.mu.Lock()
	defer d.pm.mu.Unlock()
	if d.pm.log == nil {
		d.pm.dirs = d.cfg.pluginDirs()
		d.pm.log = d.log.With("role", "plugins")
	}
	return &d.pm
}

// client answers the running plugin name, starting it (again) when needed.
func (m *pluginManager) client(ctx context.Context, name string) (*plugins.Client, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, fmt.Errorf("plugin %s: daemon is stopping", name)
	}
	if c := m.running[name]; c != nil {
		if !c.Exited() {
			return c, nil
		}
		m.log.Warn("plugin exited; starting it again", "plugin", name)
		c.Kill()
		delete(m.running, name)
	}
	path, err := plugins.Find(name, m.dirs...)
	if err != nil {
		return nil, err
	}
	c, err := plugins.Start(ctx, path, m.log.With("plugin", name))
	if err != nil {
		return nil, err
	}
	if c.Info.Name != name {
		m.log.Warn("plugin reports another name than its file", "file", path, "name", c.Info.Name)
	}
	m.log.Info("plugin started", "plugin", name, "type", c.Info.Type, "version", c.Info.Version, "api", c.Info.APIVersion, "pid", c.Pid())
	if m.running == nil {
		m.running = map[string]*plugins.Client{}
	}
	m.running[name] = c
	return c, nil
}

func (m *pluginManager) close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	for name, c := range m.running {
		c.Kill()
		delete(m.running, name)
	}
}

// isPluginURI reports whether s names content reached through an origin-IO plugin
// (scheme://…, the scheme being the plugin's name) rather than a local path. Drive letters
// (C:\…) and http(s) are not plugin URIs.
func isPluginURI(s string) bool {
	u, err := url.Parse(s)
	if err != nil || len(u.Scheme) < 2 || !strings.Contains(s, "://") {
		return false
	}
	return u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "file"
}

// openDevice opens uri through the origin-IO plugin its scheme names.
func (m *pluginManager) openDevice(ctx context.Context, uri string, write bool) (*pluginDevice, error) {
	u, err := url.Parse(uri)
	if err != nil {
		return nil, fmt.Errorf("uri %q: %w", uri, err)
	}
	ctx, cancel := context.WithTimeout(ctx, openTimeout)
	defer cancel()
	c, err := m.client(ctx, u.Scheme)
	if err != nil {
		return nil, err
	}
	oio, err := c.OriginIO()
	if err != nil {
		return nil, err
	}
	dev, err := oio.Open(ctx, uri, write)
	if err != nil {
		return nil, fmt.Errorf("plugin %s: %w", u.Scheme, err)
	}
	return newPluginDevice(uri, dev), nil
}

// pluginPolicy is a relay-policy plugin as the controller's selection.Policy: it starts (or
// restarts) the plugin for each call and bounds the call's time.
type pluginPolicy struct {
	m    *pluginManager
	name string
}

func (p pluginPolicy) Name() string { return "plugin " + p.name }

func (p pluginPolicy) ChooseRelays(ctx context.Context, req selection.Request) ([]selection.Group, error) {
	ctx, cancel := context.WithTimeout(ctx, PolicyTimeout)
	defer cancel()
	c, err := p.m.client(ctx, p.name)
	if err != nil {
		return nil, err
	}
	rp, err := c.RelayPolicy()
	if err != nil {
		return nil, err
	}
	return rp.ChooseRelays(ctx, req)
}

// relayPolicy answers the controller's relay policy: the configured plugin, or nil for the
// built-in one.
func (d *Daemon) relayPolicy() selection.Policy {
	if d.cfg.RelayPolicy == "" {
		return nil
	}
	return pluginPolicy{m: d.plugins(), name: d.cfg.RelayPolicy}
}

// pluginDevice is a device in a plugin that remembers its first failure, so a task writing into
// it fails with that error instead of waiting for pieces that can no longer be stored.
type pluginDevice struct {
	plugins.Device
	uri     string
	cache   *blockCache
	wbuf    writeBuffer
	once    sync.Once
	failed  chan struct{}
	errMu   sync.Mutex
	failure error
}

func newPluginDevice(uri string, dev plugins.Device) *pluginDevice {
	return &pluginDevice{Device: dev, uri: uri, cache: newBlockCache(), failed: make(chan struct{})}
}

func (p *pluginDevice) fail(err error) error {
	if err != nil && !errors.Is(err, io.EOF) {
		p.once.Do(func() {
			p.errMu.Lock()
			p.failure = err
			p.errMu.Unlock()
			close(p.failed)
		})
	}
	return err
}

// Failed is closed on the first read, write or sync error; Err then says what it was.
func (p *pluginDevice) Failed() <-chan struct{} { return p.failed }

func (p *pluginDevice) Err() error {
	p.errMu.Lock()
	defer p.errMu.Unlock()
	return p.failure
}

func (p *pluginDevice) ReadAt(b []byte, off int64) (int, error) {
	if err := p.wbuf.flush(plugins.ChunkSize, p.Device.WriteAt); err != nil {
		return 0, p.fail(err)
	}
	n, err := p.cache.readAt(b, off, p.Size(), p.Device.ReadAt)
	return n, p.fail(err)
}

func (p *pluginDevice) WriteAt(b []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(b)) > p.Size() {
		return 0, fmt.Errorf("write %s: %d bytes at %d pass its end at %d", p.uri, len(b), off, p.Size())
	}
	// Dropped before and after: a read racing the write cannot keep the old bytes.
	p.cache.wrote(off, int64(len(b)))
	err := p.wbuf.write(b, off, plugins.ChunkSize, p.Device.WriteAt)
	p.cache.wrote(off, int64(len(b)))
	if err != nil {
		return 0, p.fail(err)
	}
	return len(b), nil
}

// Sync sends what is buffered, then has the plugin sync the device.
func (p *pluginDevice) Sync() error {
	if err := p.wbuf.flush(plugins.ChunkSize, p.Device.WriteAt); err != nil {
		return p.fail(err)
	}
	return p.fail(p.Device.Sync())
}

// Close sends what is buffered and closes the device.
func (p *pluginDevice) Close() error {
	err := p.wbuf.flush(plugins.ChunkSize, p.Device.WriteAt)
	return errors.Join(p.fail(err), p.Device.Close())
}
