package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"dist/core/api"
	"dist/core/content"
	"dist/daemon/demo/fleet"
	"dist/daemon/demo/origin"
)

// DemoCmd runs a whole distribution on this machine: an HTTP origin with a generated file, a
// controller, relays and clients as real daemon processes on loopback.
type DemoCmd struct {
	Clients        int           `default:"6" help:"Number of client daemons."`
	Relays         int           `default:"1" help:"Number of relay daemons."`
	Size           string        `default:"256MiB" help:"Size of the generated file (e.g. 64MiB, 1GiB)."`
	OriginRate     string        `help:"Cap the origin's total upload rate (e.g. 20MiB), to watch a slow origin." placeholder:"RATE"`
	Dir            string        `help:"Work directory (default: a new temporary directory, removed afterwards)." type:"path"`
	Keep           bool          `help:"Keep the work directory and its logs."`
	KeepRunning    bool          `name:"keep-running" help:"Keep the fleet up after the distribution ends, until Ctrl-C, to try dist top, show and report against it."`
	Timeout        time.Duration `default:"10m" help:"Give up after this long."`
	OriginMaxConns int           `name:"origin-max-conns" help:"Origin policy for the demo origin, set on the controller before the push: most requests in flight from all hosts." placeholder:"N"`
	OriginMaxRate  string        `name:"origin-max-rate" help:"Origin policy for the demo origin: most bandwidth from it to all hosts, e.g. 20MiB/s." placeholder:"RATE"`
	BTBlocked      int           `name:"bt-blocked" help:"Number of clients that cannot reach any BitTorrent peer (HTTP carries their download)." placeholder:"N"`
	BTSlow         string        `name:"bt-slow" help:"N:RATE: N clients whose BitTorrent download is limited to RATE (e.g. 2:200KiB/s), to watch HTTP assist." placeholder:"N:RATE"`
	Plain          bool          `name:"insecure-plain-http" help:"Run the fleet without TLS (every daemon with --insecure-plain-http), to compare."`
	Hybrid         HybridFlags   `embed:"" group:"Hybrid download"`
}

// DemoResult is the demo's summary; its JSON field names are documented and stable.
type DemoResult struct {
	DistID          string        `json:"dist_id"`
	State           api.DistState `json:"state"`
	Clients         int           `json:"clients"`
	Relays          int           `json:"relays"`
	Verified        int           `json:"verified"`
	FileBytes       int64         `json:"file_bytes"`
	OriginBytes     int64         `json:"origin_bytes"`
	OriginRatio     float64       `json:"origin_ratio"`
	BytesBT         int64         `json:"bytes_bt"`
	BytesHTTP       int64         `json:"bytes_http"`
	BytesHTTPRelay  int64         `json:"bytes_http_relay"`
	BytesHTTPOrigin int64         `json:"bytes_http_origin"`
	MakespanMs      int64         `json:"makespan_ms"`
	TTFBMs          int64         `json:"ttfb_ms"`
	RelayPullMs     int64         `json:"relay_pull_ms"` // push until the last relay held the whole file
	// Measured at the origin: most requests in flight at once, and most bytes/s over any 10 s.
	OriginMaxConcurrent int64        `json:"origin_max_concurrent"`
	OriginPeakRate      int64        `json:"origin_peak_rate"`
	Hosts               []DemoClient `json:"hosts,omitempty"` // each client's bytes by source and hybrid mode
	Dir                 string       `json:"dir,omitempty"`
}

// DemoClient is one client's part of the demo result.
type DemoClient struct {
	Host            string `json:"host"`
	BT              string `json:"bt"` // "ok", "blocked" or the BitTorrent rate limit
	Mode            string `json:"mode,omitempty"`
	ModeReason      string `json:"mode_reason,omitempty"`
	BytesBT         int64  `json:"bytes_bt"`
	BytesHTTPRelay  int64  `json:"bytes_http_relay"`
	BytesHTTPOrigin int64  `json:"bytes_http_origin"`
	DoneMs          int64  `json:"done_ms"` // after the push
}

// Run runs the demo and prints its summary.
func (c *DemoCmd) Run(g *Globals) error {
	size, err := parseSize(c.Size)
	if err != nil || size <= 0 {
		return usageError{fmt.Errorf("--size %q: give a positive size such as 256MiB", c.Size)}
	}
	var rate int64
	if c.OriginRate != "" {
		if rate, err = parseBandwidth(c.OriginRate); err != nil || rate <= 0 {
			return usageError{fmt.Errorf("--origin-rate %q: give a rate such as 20MiB", c.OriginRate)}
		}
	}
	if c.Clients < 1 || c.Relays < 1 {
		return usageError{errors.New("--clients and --relays must be at least 1")}
	}
	hyb, err := c.hybridOptions()
	if err != nil {
		return err
	}
	var maxRate int64
	if c.OriginMaxRate != "" {
		if maxRate, err = parseBandwidth(c.OriginMaxRate); err != nil {
			return usageError{fmt.Errorf("--origin-max-rate: %w", err)}
		}
	}
	if c.OriginMaxConns < 0 {
		return usageError{errors.New("--origin-max-conns must not be negative")}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	sigCtx := ctx
	if !c.KeepRunning { // kept running, the fleet lives until Ctrl-C
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.Timeout)
		defer cancel()
	}
	progress := io.Discard
	if !g.Quiet && streamIsTerminal(g.Err) {
		progress = g.Err
	} else if !g.Quiet && !g.JSON {
		progress = g.Out
	}
	opts := DemoOptions{
		Clients: c.Clients, Relays: c.Relays, Size: size, OriginRate: rate,
		Dir: c.Dir, Keep: c.Keep, Live: streamIsTerminal(g.Err) && !g.Quiet,
		BTBlocked: hyb.blocked, BTSlow: hyb.slow, BTSlowRate: hyb.rate, Settings: hyb.settings,
		OriginMaxConns: c.OriginMaxConns, OriginMaxRate: maxRate, Plain: c.Plain,
	}
	printed := false
	show := func(res DemoResult) error {
		printed = true
		if g.JSON {
			return json.NewEncoder(g.Out).Encode(res)
		}
		printDemo(g.Out, res)
		return nil
	}
	if c.KeepRunning {
		opts.Hold = func(res DemoResult) {
			_ = show(res)
			fmt.Fprintln(progress, "the fleet stays up: press Ctrl-C to stop it")
			<-sigCtx.Done()
		}
	}
	res, err := RunDemo(ctx, opts, progress)
	if err != nil {
		return err
	}
	if !printed {
		if err := show(res); err != nil {
			return err
		}
	}
	if res.Verified != res.Clients {
		return exitError{code: ExitPartial, err: fmt.Errorf("demo: %d of %d copies verified", res.Verified, res.Clients)}
	}
	return nil
}

// DemoOptions shape one demo run.
type DemoOptions struct {
	Bin        string // dist binary; default: this executable
	Clients    int
	Relays     int
	Size       int64
	OriginRate int64
	Dir        string
	Keep       bool
	Live       bool          // redraw progress in place (a terminal)
	BTBlocked  int           // the first BTBlocked clients reach no BitTorrent peer
	BTSlow     int           // the next BTSlow clients download BitTorrent at BTSlowRate
	BTSlowRate int64         // bytes/s
	Settings   *api.Settings // the push's hybrid settings
	// The demo origin's policy on the controller; 0: no limit.
	OriginMaxConns int
	OriginMaxRate  int64 // bytes/s
	// Hold, when set, runs with the result once the distribution ended, before the fleet is
	// stopped: the fleet stays up while it runs.
	Hold func(DemoResult)
	// Plain runs the fleet over plain HTTP (--insecure-plain-http); by default it runs TLS.
	Plain bool
}

// RunDemo starts an origin and a fleet, pushes the file to every client, waits, and verifies each copy.
func RunDemo(ctx context.Context, o DemoOptions, progress io.Writer) (DemoResult, error) {
	var res DemoResult
	dir := o.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "dist-demo-")
		if err != nil {
			return res, fmt.Errorf("demo directory: %w", err)
		}
		dir = d
	}
	if o.Keep {
		res.Dir = dir
	} else {
		defer os.RemoveAll(dir)
	}
	bin := o.Bin
	if bin == "" {
		exe, err := os.Executable()
		if err != nil {
			return res, fmt.Errorf("find the dist binary: %w", err)
		}
		bin = exe
	}
	fmt.Fprintf(progress, "generating %s test file\n", humanBytes(o.Size))
	file := filepath.Join(dir, "origin", "demo.img")
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return res, fmt.Errorf("demo directory: %w", err)
	}
	sum, err := origin.Generate(file, o.Size, 1)
	if err != nil {
		return res, fmt.Errorf("generate test file: %w", err)
	}
	org, err := origin.Start(origin.Options{File: file, Rate: o.OriginRate})
	if err != nil {
		return res, fmt.Errorf("start origin: %w", err)
	}
	defer org.Close()

	cl := fleet.New(bin, filepath.Join(dir, "hosts"))
	cl.Plain = o.Plain
	defer cl.Close()
	fmt.Fprintf(progress, "starting controller, %d relay(s), %d client(s)\n", o.Relays, o.Clients)
	if _, err := cl.StartController(ctx, "controller"); err != nil {
		return res, err
	}
	type started struct {
		p   *fleet.Proc
		err error
	}
	ch := make(chan started)
	names := []string{}
	for i := 1; i <= o.Relays; i++ {
		names = append(names, fmt.Sprintf("relay-%d", i))
	}
	for i := 1; i <= o.Clients; i++ {
		names = append(names, fmt.Sprintf("client-%d", i))
	}
	for _, n := range names {
		role := api.RoleClient
		if strings.HasPrefix(n, "relay") {
			role = api.RoleRelay
		}
		extra := o.clientArgs(n)
		go func() {
			p, err := cl.Start(ctx, n, []api.Role{role}, map[string]string{"site": "demo"}, extra...)
			ch <- started{p, err}
		}()
	}
	var startErr error
	for range names {
		if s := <-ch; s.err != nil && startErr == nil {
			startErr = s.err
		}
	}
	if startErr != nil {
		return res, startErr
	}
	if err := cl.WaitHosts(ctx, len(names)+1); err != nil {
		return res, err
	}
	client := cl.API()
	// Where to watch it from: the controller's URL and a file with its admin token (a token on a
	// command line would show in the process list).
	tokenFile := filepath.Join(dir, "admin.token")
	if err := os.WriteFile(tokenFile, []byte(cl.AdminToken+"\n"), 0o600); err != nil {
		return res, fmt.Errorf("demo token file: %w", err)
	}
	fmt.Fprintf(progress, "controller %s (admin token in %s)\n", cl.ControllerURL(), tokenFile)
	trust := ""
	if cl.CAFile != "" {
		fmt.Fprintf(progress, "controller CA %s, fingerprint %s\n", cl.CAFile, cl.CAFingerprint)
		trust = " DIST_CA_FILE=" + cl.CAFile
	}
	fmt.Fprintf(progress, "watch it:  DIST_CONTROLLER=%s%s DIST_TOKEN=\"$(cat %s)\" dist top\n", cl.ControllerURL(), trust, tokenFile)
	fmt.Fprintf(progress, "or in a browser: %s/ui (sign in with the admin token)\n", cl.ControllerURL())
	if o.OriginMaxConns > 0 || o.OriginMaxRate > 0 {
		u := api.OriginUpdate{Origin: org.URL(), MaxConns: &o.OriginMaxConns, MaxRate: &o.OriginMaxRate}
		if _, err := client.SetOrigin(ctx, u); err != nil {
			return res, fmt.Errorf("set origin policy: %w", err)
		}
		fmt.Fprintf(progress, "origin policy: at most %d requests in flight, %s/s (0: no limit)\n", o.OriginMaxConns, humanBytes(o.OriginMaxRate))
	}
	t0 := time.Now()
	d, err := client.CreateDistribution(ctx, api.CreateDistribution{Source: org.URL(), To: []string{"all"}, SHA256: sum, Settings: o.Settings})
	if err != nil {
		return res, fmt.Errorf("push: %w", err)
	}
	res.DistID = d.ID
	fmt.Fprintf(progress, "pushed %s as distribution %s\n", org.URL(), d.ID)

	view := newDemoView(progress, o.Live)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		d, err = client.Distribution(ctx, d.ID)
		if err == nil {
			view.draw(d, time.Since(t0), org.Stats().BytesServed)
			if d.State.Ended() {
				break
			}
		}
		select {
		case <-ctx.Done():
			return res, fmt.Errorf("demo did not finish: %w (logs: %s)", ctx.Err(), dir)
		case <-tick.C:
		}
	}
	view.done()
	// A relay reports the end of its pull within a second; clients may finish inside that second.
	for wait := 0; wait < 20 && !relaysPulled(d); wait++ {
		if !sleepUntil(ctx, tick.C) {
			break
		}
		if nd, err := client.Distribution(ctx, d.ID); err == nil {
			d = nd
		}
	}

	res.State = d.State
	res.Clients = o.Clients
	res.Relays = o.Relays
	res.FileBytes = o.Size
	res.OriginBytes = org.Stats().BytesServed
	res.OriginRatio = float64(res.OriginBytes) / float64(o.Size)
	res.OriginMaxConcurrent = org.Stats().MaxConcurrent
	res.OriginPeakRate = peakRate(org.Samples(), 10*time.Second)
	res.BytesBT = d.BytesBT
	res.BytesHTTPRelay = d.BytesHTTPRelay
	res.BytesHTTPOrigin = d.BytesHTTPOrigin
	res.BytesHTTP = d.BytesHTTPRelay + d.BytesHTTPOrigin
	var ttfb []int64
	for _, a := range d.Assignments {
		if a.Role == api.RoleRelay && !a.DoneAt.IsZero() {
			res.RelayPullMs = max(res.RelayPullMs, a.DoneAt.Sub(t0).Milliseconds())
		}
		if a.Role != api.RoleClient {
			continue
		}
		dc := DemoClient{Host: a.Host, BT: o.clientBT(a.Host), Mode: a.Mode, ModeReason: a.ModeReason,
			BytesBT: a.BytesBT, BytesHTTPRelay: a.BytesHTTPRelay, BytesHTTPOrigin: a.BytesHTTPOrigin}
		if !a.DoneAt.IsZero() {
			res.MakespanMs = max(res.MakespanMs, a.DoneAt.Sub(t0).Milliseconds())
			dc.DoneMs = a.DoneAt.Sub(t0).Milliseconds()
		}
		res.Hosts = append(res.Hosts, dc)
		if !a.FirstByteAt.IsZero() {
			ttfb = append(ttfb, a.FirstByteAt.Sub(t0).Milliseconds())
		}
	}
	if len(ttfb) > 0 {
		slices.Sort(ttfb)
		res.TTFBMs = ttfb[len(ttfb)/2]
	}
	for _, p := range cl.Procs() {
		if !slices.Contains(p.Roles, api.RoleClient) {
			continue
		}
		got, err := content.SHA256File(ctx, filepath.Join(p.Data, "files", "demo.img"))
		if err == nil && got == sum {
			res.Verified++
		}
	}
	if o.Hold != nil {
		o.Hold(res)
	}
	return res, nil
}

// relaysPulled reports whether every relay of d has reported the end of its pull.
func relaysPulled(d api.Distribution) bool {
	for _, a := range d.Assignments {
		if a.Role == api.RoleRelay && a.DoneAt.IsZero() && a.State != api.TaskFailed {
			return false
		}
	}
	return true
}

// sleepUntil waits for the next tick; false when ctx ended first.
func sleepUntil(ctx context.Context, tick <-chan time.Time) bool {
	select {
	case <-ctx.Done():
		return false
	case <-tick:
		return true
	}
}

func printDemo(w io.Writer, r DemoResult) {
	fmt.Fprintf(w, "distribution %s: %s\n", r.DistID, r.State)
	fmt.Fprintf(w, "  copies verified   %d of %d (sha256)\n", r.Verified, r.Clients)
	fmt.Fprintf(w, "  file              %s\n", humanBytes(r.FileBytes))
	fmt.Fprintf(w, "  origin served     %s (%.2f× the file)\n", humanBytes(r.OriginBytes), r.OriginRatio)
	fmt.Fprintf(w, "  origin peak       %d requests in flight, %s/s over 10 s\n", r.OriginMaxConcurrent, humanBytes(r.OriginPeakRate))
	fmt.Fprintf(w, "  clients got       bt %s, http %s\n", humanBytes(r.BytesBT), humanBytes(r.BytesHTTP))
	fmt.Fprintf(w, "  first byte        %d ms (median)\n", r.TTFBMs)
	fmt.Fprintf(w, "  relay pulled      %d ms after the push\n", r.RelayPullMs)
	fmt.Fprintf(w, "  last copy done    %d ms after the push\n", r.MakespanMs)
	for _, h := range r.Hosts {
		if h.BT == "ok" && (h.Mode == "" || h.Mode == "bt") {
			continue // only the clients the hybrid download had to help
		}
		fmt.Fprintf(w, "  %-17s bt %s: %s, bt %s, http %s, done %d ms (%s)\n", h.Host, h.BT, h.Mode,
			humanBytes(h.BytesBT), humanBytes(h.BytesHTTPRelay+h.BytesHTTPOrigin), h.DoneMs, h.ModeReason)
	}
	if r.Dir != "" {
		fmt.Fprintf(w, "  kept              %s\n", r.Dir)
	}
}

// demoView prints progress: redrawn in place on a terminal, a line every few seconds elsewhere.
type demoView struct {
	w     io.Writer
	live  bool
	lines int
	last  time.Time
}

func newDemoView(w io.Writer, live bool) *demoView { return &demoView{w: w, live: live} }

func (v *demoView) draw(d api.Distribution, since time.Duration, originBytes int64) {
	if !v.live {
		if time.Since(v.last) < 2*time.Second {
			return
		}
		v.last = time.Now()
		pct := 0.0
		if d.Size > 0 && d.Targets > 0 {
			pct = 100 * float64(d.Have) / float64(d.Size*int64(d.Targets))
		}
		fmt.Fprintf(v.w, "%6.1fs  %-8s %d/%d done  %5.1f%%  origin %s\n", since.Seconds(), d.State, d.Done, d.Targets, pct, humanBytes(originBytes))
		return
	}
	var b strings.Builder
	if v.lines > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", v.lines)
	}
	n := 0
	fmt.Fprintf(&b, "\x1b[2K%6.1fs  %s  %d/%d done  origin served %s\n", since.Seconds(), d.State, d.Done, d.Targets, humanBytes(originBytes))
	n++
	for _, a := range d.Assignments {
		frac := 0.0
		if d.Size > 0 {
			frac = float64(a.Have) / float64(d.Size)
		}
		fmt.Fprintf(&b, "\x1b[2K  %-10s %-6s %-11s %s %5.1f%%  bt %-9s http %-9s peers %d\n",
			a.Host, a.Role, a.State, bar(frac, 24), 100*frac,
			humanBytes(a.BytesBT), humanBytes(a.BytesHTTPRelay+a.BytesHTTPOrigin), a.Peers)
		n++
	}
	v.lines = n
	io.WriteString(v.w, b.String())
}

func (v *demoView) done() {}

func bar(frac float64, width int) string {
	full := int(frac*float64(width) + 0.5)
	full = max(0, min(width, full))
	return "[" + strings.Repeat("#", full) + strings.Repeat(".", width-full) + "]"
}

// peakRate is the most bytes/s the origin served over any window of width w.
func peakRate(s []origin.Sample, w time.Duration) int64 {
	n := max(1, int(w/origin.SampleInterval))
	var sum, best int64
	for i := range s {
		sum += s[i].Bytes
		if i >= n {
			sum -= s[i-n].Bytes
		}
		best = max(best, sum)
	}
	return int64(float64(best) / (float64(n) * origin.SampleInterval.Seconds()))
}
