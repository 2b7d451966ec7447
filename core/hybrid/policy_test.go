package hybrid

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// sim drives a Policy with a fake clock: each step advances time by one sample interval and
// counts the bytes BT delivered at the given rate.
type sim struct {
	t       *testing.T
	p       *Policy
	now     time.Time
	step    time.Duration
	bt      int64
	http    int64
	peers   int
	failing bool
	last    Decision
	// switches records every mode change.
	switches []switchAt
}

type switchAt struct {
	at   time.Time
	from string
	to   string
}

func newSim(t *testing.T, cfg Config) *sim {
	p := NewPolicy(cfg, t0)
	s := &sim{t: t, p: p, now: t0, step: p.Config().SampleInterval, peers: 8}
	s.observe()
	return s
}

func (s *sim) observe() Decision {
	before := s.p.Mode()
	d := s.p.Observe(Observation{At: s.now, BTTotal: s.bt, HTTPTotal: s.http, Peers: s.peers, BTFailing: s.failing})
	if d.Changed != (d.Mode != before) {
		s.t.Fatalf("at %s: Changed = %v but mode %s → %s", s.elapsed(), d.Changed, before, d.Mode)
	}
	if d.Mode != s.p.Mode() {
		s.t.Fatalf("decision mode %s, policy mode %s", d.Mode, s.p.Mode())
	}
	if d.Changed {
		s.switches = append(s.switches, switchAt{at: s.now, from: before, to: d.Mode})
	}
	s.last = d
	return d
}

// run advances for dur at BT rate bps (bytes/s), answering the last decision.
func (s *sim) run(dur time.Duration, bps float64) Decision {
	for end := s.now.Add(dur); s.now.Before(end); {
		s.now = s.now.Add(s.step)
		s.bt += int64(bps * s.step.Seconds())
		s.observe()
	}
	return s.last
}

// runUntil advances at BT rate bps until the mode is mode, for at most limit.
func (s *sim) runUntil(mode string, limit time.Duration, bps float64) Decision {
	s.t.Helper()
	for end := s.now.Add(limit); s.p.Mode() != mode; {
		if !s.now.Before(end) {
			s.t.Fatalf("no %s within %s (reason %q)", mode, limit, s.last.Reason)
		}
		s.run(s.step, bps)
	}
	return s.last
}

func (s *sim) elapsed() time.Duration { return s.now.Sub(t0) }

func (s *sim) wantMode(mode string) {
	s.t.Helper()
	if got := s.p.Mode(); got != mode {
		s.t.Fatalf("at %s: mode %s, want %s (reason %q)", s.elapsed(), got, mode, s.last.Reason)
	}
}

func TestStaysBTWhenFast(t *testing.T) {
	t.Parallel()
	s := newSim(t, DefaultConfig())
	d := s.run(10*time.Minute, 2*MiB)
	s.wantMode(ModeBT)
	if len(s.switches) != 0 || d.HTTPBudget != 0 {
		t.Fatalf("switches %v, budget %d", s.switches, d.HTTPBudget)
	}
}

func TestNoSwitchOnDip(t *testing.T) {
	t.Parallel()
	for _, dip := range []time.Duration{2 * time.Second, 6 * time.Second, 12 * time.Second} {
		t.Run(dip.String(), func(t *testing.T) {
			s := newSim(t, DefaultConfig())
			s.run(2*time.Minute, MiB)
			s.run(dip, 0)
			s.run(3*time.Minute, MiB)
			s.wantMode(ModeBT)
			if len(s.switches) != 0 {
				t.Fatalf("switched on a %s dip: %v", dip, s.switches)
			}
		})
	}
}

func TestNoSwitchBeforeWindowIsFull(t *testing.T) {
	t.Parallel()
	// A download that starts slow must not be judged before one whole window.
	s := newSim(t, DefaultConfig())
	s.run(DefaultWindow-time.Second, 10*KiB)
	s.wantMode(ModeBT)
	if !strings.Contains(s.last.Reason, "measuring") {
		t.Fatalf("reason %q, want it to say the window is still measuring", s.last.Reason)
	}
	s.run(time.Minute, 10*KiB)
	s.wantMode(ModeAssist)
	// Window full at 46 s (the first sample at or past 45 s), then 3 samples below: 46, 48, 50 s.
	if at := s.switches[0].at.Sub(t0); at != 50*time.Second {
		t.Fatalf("switched at %s, want 50s", at)
	}
}

func TestSwitchAfterWindowFallsBelow(t *testing.T) {
	t.Parallel()
	s := newSim(t, DefaultConfig())
	s.run(2*time.Minute, MiB)
	slowFrom := s.now
	s.run(2*time.Minute, 100*KiB)
	s.wantMode(ModeAssist)
	if len(s.switches) != 1 {
		t.Fatalf("switches %v, want one", s.switches)
	}
	sw := s.switches[0]
	// The window mixes 1 MiB/s and 100 KiB/s; it drops below 500 KiB/s once more than ~24 s of the
	// 45 s are slow, and then takes two more samples.
	if lag := sw.at.Sub(slowFrom); lag < 20*time.Second || lag > 45*time.Second {
		t.Fatalf("switched %s after the rate fell, want 20–45s", lag)
	}
	d := s.last
	if !strings.HasPrefix(s.p.Mode(), "assist") || d.Mode != ModeAssist {
		t.Fatalf("decision %+v", d)
	}
}

func TestSwitchReason(t *testing.T) {
	t.Parallel()
	s := newSim(t, DefaultConfig())
	var d Decision
	for i := 0; i < 100 && !d.Changed; i++ {
		d = s.run(s.step, 120*KiB)
	}
	if !d.Changed || d.Mode != ModeAssist {
		t.Fatalf("no switch to assist: %+v", d)
	}
	if want := "bt 120 KiB/s below 500 KiB/s for 3 samples"; d.Reason != want {
		t.Fatalf("reason %q, want %q", d.Reason, want)
	}
}

func TestCooldownPreventsFlapping(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig()
	for _, period := range []time.Duration{30 * time.Second, 90 * time.Second, 150 * time.Second} {
		t.Run(period.String(), func(t *testing.T) {
			s := newSim(t, cfg)
			// The rate swings around the threshold: slow for a period, fast for a period.
			for s.elapsed() < 40*time.Minute {
				s.run(period, 150*KiB)
				s.run(period, 1500*KiB)
			}
			t.Logf("%d switches", len(s.switches))
			for i := 1; i < len(s.switches); i++ {
				if gap := s.switches[i].at.Sub(s.switches[i-1].at); gap < cfg.Cooldown {
					t.Fatalf("switches %d and %d only %s apart: %v", i-1, i, gap, s.switches)
				}
			}
			if max := int(40*time.Minute/cfg.Cooldown) + 1; len(s.switches) > max {
				t.Fatalf("%d switches in 40 min, want at most %d", len(s.switches), max)
			}
			if period >= 90*time.Second && len(s.switches) < 2 {
				t.Fatalf("swings of %s never switched both ways: %v", period, s.switches)
			}
		})
	}
}

func TestCooldownHoldsSwitchBack(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig()
	s := newSim(t, cfg)
	s.run(time.Minute, 100*KiB)
	s.wantMode(ModeAssist)
	entered := s.switches[0].at
	// BT recovers at once, but the policy stays until the cooldown has passed.
	for s.now.Sub(entered) < cfg.Cooldown-s.step {
		s.run(s.step, 3*MiB)
		s.wantMode(ModeAssist)
	}
	if !strings.Contains(s.last.Reason, "cooldown") {
		t.Fatalf("reason %q, want it to name the cooldown", s.last.Reason)
	}
	s.run(2*s.step, 3*MiB)
	s.wantMode(ModeBT)
	if gap := s.switches[1].at.Sub(entered); gap != cfg.Cooldown {
		t.Fatalf("switched back after %s, want exactly the cooldown %s", gap, cfg.Cooldown)
	}
}

func TestBackToBTWhenRecovered(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig()
	s := newSim(t, cfg)
	s.run(time.Minute, 200*KiB)
	s.wantMode(ModeAssist)
	// Above the threshold but inside the hysteresis band: stays assisting.
	s.run(5*time.Minute, 550*KiB)
	s.wantMode(ModeAssist)
	// Clear of threshold × 1.2: back to BT.
	d := s.run(2*time.Minute, 700*KiB)
	s.wantMode(ModeBT)
	if d.HTTPBudget != 0 {
		t.Fatalf("budget %d in bt mode, want 0", d.HTTPBudget)
	}
	last := s.switches[len(s.switches)-1]
	if last.from != ModeAssist || last.to != ModeBT {
		t.Fatalf("last switch %+v", last)
	}
}

func TestHTTPMainWhenNoPeers(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig()
	s := newSim(t, cfg)
	s.peers = 0
	// The policy started with no peers at t0: within the grace it waits.
	s.now = t0
	for s.elapsed() < cfg.BTGrace-s.step {
		s.run(s.step, 0)
		s.wantMode(ModeBT)
	}
	d := s.run(s.step, 0)
	s.wantMode(ModeHTTPMain)
	if !d.Changed || d.HTTPBudget != Unlimited || d.Reason != "no bt peer for 30s" {
		t.Fatalf("decision %+v", d)
	}
	if s.elapsed() != cfg.BTGrace {
		t.Fatalf("http-main at %s, want %s", s.elapsed(), cfg.BTGrace)
	}
}

func TestHTTPMainImmediatelyWhenBlocked(t *testing.T) {
	t.Parallel()
	s := newSim(t, DefaultConfig())
	s.peers, s.failing = 0, true
	d := s.run(s.step, 0)
	s.wantMode(ModeHTTPMain)
	if d.Reason != "every bt connection attempt failing" || d.HTTPBudget != Unlimited {
		t.Fatalf("decision %+v", d)
	}
}

func TestHTTPMainIgnoresCooldown(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig()
	s := newSim(t, cfg)
	s.run(time.Minute, 100*KiB)
	s.wantMode(ModeAssist)
	entered := s.switches[0].at
	s.peers = 0 // every peer leaves right after the switch
	s.run(cfg.BTGrace, 0)
	s.wantMode(ModeHTTPMain)
	if gap := s.switches[1].at.Sub(entered); gap >= cfg.Cooldown {
		t.Fatalf("http-main came after %s; it should not wait for the cooldown", gap)
	}
}

func TestLeavesHTTPMainWhenBTIsBack(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		rate float64
		want string
	}{
		{"slow peers keep http-main", 200 * KiB, ModeHTTPMain},
		{"rate at threshold steps down to assisting", 550 * KiB, ModeAssist},
		{"rate clear of hysteresis goes to bt", 2 * MiB, ModeBT},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			s := newSim(t, cfg)
			s.peers, s.failing = 0, true
			s.run(s.step, 0)
			s.wantMode(ModeHTTPMain)
			entered := s.now
			s.peers, s.failing = 5, false
			s.run(5*time.Minute, tt.rate)
			s.wantMode(tt.want)
			if len(s.switches) > 1 && s.switches[1].at.Sub(entered) < cfg.Cooldown {
				t.Fatalf("left http-main %s after entering, inside the cooldown", s.switches[1].at.Sub(entered))
			}
		})
	}
}

func TestPeersBackDoNotCountStaleBytes(t *testing.T) {
	t.Parallel()
	// Fast BT, then every peer leaves: the window still holds the fast bytes when the grace ends.
	// Peers that come back but deliver nothing must not end http-main on those old bytes.
	cfg := DefaultConfig()
	cfg.Cooldown = MinCooldown
	s := newSim(t, cfg)
	s.run(2*time.Minute, 4*MiB)
	s.peers = 0
	s.run(cfg.BTGrace, 0)
	s.wantMode(ModeHTTPMain)
	s.peers = 3
	s.run(3*time.Minute, 0)
	s.wantMode(ModeHTTPMain)
}

func TestBudgetRespectsShareCap(t *testing.T) {
	t.Parallel()
	for _, share := range []float64{0.10, 0.30, 0.50} {
		t.Run(fmt.Sprint(share), func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.HTTPShareCap = share
			s := newSim(t, cfg)
			s.runUntil(ModeAssist, time.Minute, 100*KiB)
			if s.last.HTTPBudget != 0 {
				t.Fatalf("budget %d when assisting begins, want 0", s.last.HTTPBudget)
			}
			bt0, http0 := s.bt, s.http
			// A greedy fetcher takes whole 64 KiB blocks while the budget covers them.
			const block = 64 * KiB
			for i := 0; i < 200; i++ {
				d := s.run(s.step, 150*KiB)
				s.wantMode(ModeAssist)
				if d.HTTPBudget < 0 {
					t.Fatalf("negative budget %d", d.HTTPBudget)
				}
				s.http += d.HTTPBudget / block * block
				b, h := float64(s.bt-bt0), float64(s.http-http0)
				if h > share*(b+h)+1e-6 {
					t.Fatalf("http %.0f of %.0f bytes is above the %.2f cap", h, b+h, share)
				}
			}
			b, h := float64(s.bt-bt0), float64(s.http-http0)
			if h < 0.9*share*(b+h) {
				t.Fatalf("http got %.3f of the bytes, want close to the cap %.2f", h/(b+h), share)
			}
		})
	}
}

func TestBudgetAfterCounterReset(t *testing.T) {
	t.Parallel()
	s := newSim(t, DefaultConfig())
	s.run(time.Minute, 100*KiB)
	s.wantMode(ModeAssist)
	s.bt, s.http = 0, 0 // the download restarted its counters
	d := s.run(s.step, 100*KiB)
	if d.HTTPBudget < 0 || d.HTTPBudget > 88*KiB {
		t.Fatalf("budget after reset %d", d.HTTPBudget)
	}
}
