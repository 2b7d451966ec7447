// Package pluginhost is the host side of dist's plugins: it starts them on demand from the plugin
// directories (one process per plugin, started again after a crash), opens devices through
// origin-IO plugins, and turns a relay-policy plugin into the controller's selection.Policy.
package pluginhost

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

// Manager starts plugins on demand from the plugin directories, keeps one process per plugin, and
// starts a plugin again when it has exited (crashed or killed) since it was last used. Close stops
// every plugin.
type Manager struct {
	mu      sync.Mutex
	dirs    []string
	log     *slog.Logger
	running map[string]*plugins.Client
	closed  bool
}

// New answers a manager that finds plugins in dir ("" → plugins.DefaultDirs); nothing starts
// before a plugin is used.
func New(dir string, log *slog.Logger) *Manager {
	dirs := plugins.DefaultDirs()
	if dir != "" {
		dirs = []string{dir}
	}
	return &Manager{dirs: dirs, log: log}
}

// client answers the running plugin name, starting it (again) when needed.
func (m *Manager) client(ctx context.Context, name string) (*plugins.Client, error) {
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
	if err := trusted(path); err != nil {
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

// Close stops every plugin.
func (m *Manager) Close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	for name, c := range m.running {
		c.Kill()
		delete(m.running, name)
	}
}

// IsURI reports whether s names content reached through an origin-IO plugin (scheme://…, the
// scheme being the plugin's name) rather than a local path. Drive letters (C:\…) and http(s)
// are not plugin URIs.
func IsURI(s string) bool {
	u, err := url.Parse(s)
	if err != nil || len(u.Scheme) < 2 || !strings.Contains(s, "://") {
		return false
	}
	return u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "file"
}

// Open opens uri through the origin-IO plugin its scheme names.
func (m *Manager) Open(ctx context.Context, uri string, write bool) (*Handle, error) {
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
	return newHandle(uri, dev), nil
}

// pluginPolicy is a relay-policy plugin as the controller's selection.Policy: it starts (or
// restarts) the plugin for each call and bounds the call's time.
type pluginPolicy struct {
	m    *Manager
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

// Policy answers the controller's relay policy: the plugin name, or nil (the built-in policy)
// for "".
func (m *Manager) Policy(name string) selection.Policy {
	if name == "" {
		return nil
	}
	return pluginPolicy{m: m, name: name}
}

// Handle is a device opened through a plugin (a device.Device): reads are served by whole cached
// blocks, writes are buffered and merged, and its first failure is remembered, so a task writing
// into it fails with that error instead of waiting for pieces that can no longer be stored.
type Handle struct {
	plugins.Device
	uri     string
	cache   *blockCache
	wbuf    writeBuffer
	once    sync.Once
	failed  chan struct{}
	errMu   sync.Mutex
	failure error
}

func newHandle(uri string, dev plugins.Device) *Handle {
	return &Handle{Device: dev, uri: uri, cache: newBlockCache(), failed: make(chan struct{})}
}

func (p *Handle) fail(err error) error {
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
func (p *Handle) Failed() <-chan struct{} { return p.failed }

func (p *Handle) Err() error {
	p.errMu.Lock()
	defer p.errMu.Unlock()
	return p.failure
}

func (p *Handle) ReadAt(b []byte, off int64) (int, error) {
	if err := p.wbuf.flush(plugins.ChunkSize, p.Device.WriteAt); err != nil {
		return 0, p.fail(err)
	}
	n, err := p.cache.readAt(b, off, p.Size(), p.Device.ReadAt)
	return n, p.fail(err)
}

func (p *Handle) WriteAt(b []byte, off int64) (int, error) {
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
func (p *Handle) Sync() error {
	if err := p.wbuf.flush(plugins.ChunkSize, p.Device.WriteAt); err != nil {
		return p.fail(err)
	}
	return p.fail(p.Device.Sync())
}

// Close sends what is buffered and closes the device.
func (p *Handle) Close() error {
	err := p.wbuf.flush(plugins.ChunkSize, p.Device.WriteAt)
	return errors.Join(p.fail(err), p.Device.Close())
}
