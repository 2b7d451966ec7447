package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"dist/core/api"
	"dist/core/content"
)

// PushCmd creates a distribution. Per-push choices are tagged config:"-": a shared config file
// must not give every push the same targets or file name.
type PushCmd struct {
	Source    string        `arg:"" help:"http(s) URL of the origin, or a local file (or partition) the local daemon publishes." placeholder:"SOURCE"`
	To        []string      `help:"Target selectors, repeatable or comma separated: a host name, key=value (a label), or all." required:"" config:"-" placeholder:"SEL"`
	Dest      string        `help:"Path of the file on the targets (default: <data>/files/<name>)." config:"-" placeholder:"PATH"`
	Name      string        `help:"File name on the targets (default: last element of SOURCE)." config:"-"`
	Base      string        `help:"Absolute path of an older version of the file on each target, elsewhere than --dest: its pieces that still match are kept (read-only) and only the others fetched. The destination itself serves as the base without it." config:"-" placeholder:"PATH"`
	Relays    int           `help:"Number of relays; 0 picks 1 to 5 percent of the targets, at least one." default:"0" placeholder:"N"`
	SHA256    string        `name:"sha256" help:"Expected whole-file SHA-256 (hex), checked on every target." config:"-" placeholder:"HEX"`
	PieceSize ByteSize      `help:"BitTorrent piece size, e.g. 4MiB (default: chosen from the file size)." placeholder:"SIZE"`
	Trusted   bool          `help:"Trusted mode, for a local file or partition: each target checks its copy by the publisher's whole-image SHA-256, read once in order (resumed after a crash), instead of hashing its pieces again; a copy that fails has its bad pieces found and fetched again. Pieces from the network are still verified as they arrive." config:"-"`
	Wait      bool          `help:"Wait until the distribution ends; exit 0 complete, 2 partial, 3 failed or cancelled."`
	Timeout   time.Duration `help:"With --wait: stop waiting after this long (exit 8; the distribution goes on). 0 waits forever." default:"0" placeholder:"DURATION"`
	Deadline  time.Duration `help:"End the distribution this long after the push: targets not done by then fail and it ends partial. 0 means no deadline." default:"0" config:"-" placeholder:"DURATION"`
	Priority  int           `help:"Priority from -100 to 100; higher goes first for relays and upkeep." default:"0" config:"-"`
	Hybrid    HybridFlags   `embed:"" group:"Hybrid download"`
	// StartThreshold belongs to the relays, not to the hybrid download of the clients.
	StartThreshold float64 `name:"start-threshold" help:"Share of the file a relay holds before it serves over HTTP (0.01-0.10; default 0.03); several waiting clients start it sooner." placeholder:"FRACTION"`
	// Origin limits set the source's origin policy on the controller before the push (see dist origin set).
	Origin OriginLimits `embed:"" prefix:"origin-" group:"Origin limits (for the whole fleet, kept by the controller)"`
	// SetOriginPolicy says the operator means to change the origin's standing policy: the limits
	// stay after this distribution, for every later one.
	SetOriginPolicy bool `name:"set-origin-policy" group:"Origin limits (for the whole fleet, kept by the controller)" help:"Let the --origin-* limits change the origin's standing policy, which holds for every later distribution too (the same as 'dist origin set')."`
}

var hexSHA256 = regexp.MustCompile(`^[0-9a-fA-F]{64}$`)

// Validate runs at parse time, so these mistakes exit with the usage code.
func (c *PushCmd) Validate() error {
	for _, s := range c.To {
		if strings.TrimSpace(s) == "" {
			return errors.New("--to: empty selector")
		}
	}
	if c.Deadline < 0 {
		return errors.New("--deadline: want a positive duration such as 2h")
	}
	if c.Priority < -100 || c.Priority > 100 {
		return errors.New("--priority: want a number from -100 to 100")
	}
	if c.SHA256 != "" && !hexSHA256.MatchString(c.SHA256) {
		return errors.New("--sha256: want 64 hex digits")
	}
	if c.Relays < 0 {
		return errors.New("--relays: must not be negative")
	}
	if ps := int64(c.PieceSize); ps != 0 && (ps < 4<<20 || ps > 64<<20 || ps&(ps-1) != 0) {
		return errors.New("--piece-size: want a power of two from 4MiB to 64MiB, or leave it out to choose from the file size")
	}
	if c.Timeout < 0 {
		return errors.New("--timeout: must not be negative")
	}
	if c.StartThreshold != 0 && (c.StartThreshold < 0.01 || c.StartThreshold > 0.10) {
		return errors.New("--start-threshold: give a share between 0.01 and 0.10")
	}
	if c.Trusted && isURL(c.Source) {
		return errors.New("--trusted needs a local file or partition, whose publisher computes the whole-image SHA-256 as it hashes the pieces: publish the image from a host that holds it")
	}
	if c.Timeout > 0 && !c.Wait {
		return errors.New("--timeout only applies with --wait")
	}
	// Absolute on the targets, whatever this machine's own convention.
	if c.Base != "" && !strings.HasPrefix(c.Base, "/") && !filepath.IsAbs(c.Base) {
		return fmt.Errorf("--base: %s is a relative path: give the absolute path of the older version on the targets", c.Base)
	}
	return nil
}

// Run creates the distribution, then prints its id or waits for its end.
func (c *PushCmd) Run(g *Globals) error {
	req := api.CreateDistribution{
		Source:   c.Source,
		Name:     c.Name,
		To:       c.selectors(),
		Dest:     c.Dest,
		Base:     c.Base,
		Relays:   c.Relays,
		SHA256:   strings.ToLower(c.SHA256),
		PieceLen: int64(c.PieceSize),
		Priority: c.Priority,
	}
	if c.Deadline > 0 {
		req.Deadline = time.Now().Add(c.Deadline)
	}
	set, err := c.Hybrid.settings()
	if err != nil {
		return err
	}
	req.Settings = set
	if c.StartThreshold != 0 {
		if req.Settings == nil {
			req.Settings = &api.Settings{}
		}
		req.Settings.StartThreshold = c.StartThreshold
	}
	if _, given, err := c.Origin.update(c.Source, "origin-"); err != nil {
		return err // a bad limit is found before a local file is published
	} else if given && !c.SetOriginPolicy {
		return usageError{errors.New("--origin-* limits change the origin's standing policy for every distribution, not only this one: add --set-origin-policy to mean it, or use 'dist origin set'")}
	}
	if !isURL(c.Source) {
		if err := c.publish(g, &req); err != nil {
			return err
		}
	}
	if err := setOriginLimits(g, c.Origin, req.Source, "origin-"); err != nil {
		return err
	}
	d, err := g.API().CreateDistribution(g.Context(), req)
	if api.IsCode(err, api.CodeNoTargets) && len(req.To) > 0 && !strings.Contains(err.Error(), req.To[0]) {
		// Name the selectors when the controller did not, so the log line says what to fix.
		return fmt.Errorf("create distribution for --to %s: %w", strings.Join(req.To, ","), err)
	}
	if err != nil {
		return fmt.Errorf("create distribution: %w", err)
	}
	if !c.Wait {
		if g.JSON {
			return g.PrintJSON(d)
		}
		_, err := fmt.Fprintln(g.Out, d.ID)
		return err
	}
	if g.ShowProgress() {
		// For the person watching; scripts get the id in the final result on stdout.
		g.Notef("distribution %s created: %d targets", d.ID, d.Targets)
	}
	return waitFor(g, d, c.Timeout)
}

// selectors flattens --to: kong already split on commas; blanks around them are dropped.
func (c *PushCmd) selectors() []string {
	out := make([]string, 0, len(c.To))
	for _, s := range c.To {
		out = append(out, strings.TrimSpace(s))
	}
	return out
}

// publish asks the local daemon to hash and serve a local file, and fills req from its answer.
// The file is opened here and the open descriptor goes with the request: the daemon, which may
// run as root, publishes only a file the caller could read (see daemon/local).
func (c *PushCmd) publish(g *Globals, req *api.CreateDistribution) error {
	if i := strings.Index(c.Source, "://"); i > 0 && !strings.ContainsAny(c.Source[:i], `/\`) {
		// SCHEME://… other than http(s): a device the local daemon reads through the origin-IO
		// plugin of that name (partition:///dev/sdb1); only root may publish one.
		return c.publishPath(g, req, c.Source, nil)
	}
	fi, err := os.Stat(c.Source)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return exitf(ExitSource, "no such file: %s", c.Source)
	case err != nil:
		return exitError{code: ExitSource, msg: fmt.Sprintf("cannot read %s: %v", c.Source, unwrapPath(err)), err: err}
	case fi.IsDir():
		return exitf(ExitSource, "%s is a directory: push one file", c.Source)
	case !fi.Mode().IsRegular():
		// Not opened: a FIFO would block. Devices go through a plugin, as partition:///dev/...
		return exitf(ExitSource, "%s is not a regular file: push a file, or a device as partition://%s (as root)", c.Source, c.Source)
	}
	f, err := os.Open(c.Source)
	if err != nil {
		return exitError{code: ExitSource, msg: fmt.Sprintf("cannot read %s: %v: publish a file you can read", c.Source, unwrapPath(err)), err: err}
	}
	defer f.Close()
	abs, err := filepath.Abs(c.Source)
	if err != nil {
		return fmt.Errorf("resolve source path: %w", err)
	}
	if g.ShowProgress() {
		g.Notef("publishing %s (%s) through the local daemon: hashing...", c.Source, humanBytes(fi.Size()))
	}
	return c.publishPath(g, req, abs, f)
}

// publishPath has the local daemon publish path (a file, passed open as f, or a plugin URI with
// f nil) and fills req.
func (c *PushCmd) publishPath(g *Globals, req *api.CreateDistribution, path string, f *os.File) error {
	p := api.Publish{Path: path, PieceLen: int64(c.PieceSize)}
	var pub api.Published
	var err error
	if f != nil {
		pub, err = api.PublishFile(g.Context(), g.Socket, p, f)
	} else {
		pub, err = g.Local().Publish(g.Context(), p)
	}
	if err != nil {
		return fmt.Errorf("publish %s: %w", c.Source, &localError{socket: g.Socket, err: err})
	}
	req.Source = pub.Source
	req.Metainfo = pub.Metainfo
	if c.Trusted {
		// Marked beside the info dictionary: the info hash, and so the swarm, stay the same.
		if req.Metainfo, err = content.Trust(pub.Metainfo); err != nil {
			return fmt.Errorf("publish %s: %w", c.Source, err)
		}
	}
	req.Publisher = pub.Host
	if req.Name == "" {
		req.Name = pub.Name
	}
	if req.SHA256 == "" {
		req.SHA256 = pub.SHA256
	}
	return nil
}

// isURL reports whether a source is fetched from an origin rather than published from this host.
func isURL(s string) bool {
	l := strings.ToLower(s)
	return strings.HasPrefix(l, "http://") || strings.HasPrefix(l, "https://")
}

// unwrapPath drops the "stat PATH:" prefix the caller already prints.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
