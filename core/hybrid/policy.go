package hybrid

import (
	"fmt"
	"math"
	"time"
)

// Modes of a Policy, as shown to people and reported to the controller. ModeExchange is not the
// policy's: a client is in it while it exchanges a URL source's pieces over HTTP before the
// metainfo exists (daemon/early), before the policy starts.
const (
	ModeBT       = "bt"
	ModeAssist   = "assisting"
	ModeHTTPMain = "http-main"
	ModeExchange = "exchange"
)

// Unlimited is the HTTPBudget of http-main: no share cap.
const Unlimited = -1

// Observation is one sample of a client's download, taken by the caller every SampleInterval.
type Observation struct {
	At        time.Time
	BTTotal   int64 // useful bytes received over BitTorrent so far (monotonic)
	HTTPTotal int64 // bytes received over HTTP so far (monotonic)
	Peers     int   // connected BitTorrent peers
	BTFailing bool  // every BitTorrent connection attempt is failing (P2P blocked)
}

// Decision is what the client should do after an observation.
type Decision struct {
	Mode       string
	Changed    bool    // the mode changed with this observation
	Reason     string  // for people: why the policy is in this mode now
	HTTPBudget int64   // bytes HTTP may fetch now; 0 in bt, Unlimited (-1) in http-main
	Rate       float64 // BT window rate (bytes/s) the decision was based on
}

// Policy is the client's assist state machine; see the package comment for the rules. It is not
// safe for concurrent use.
type Policy struct {
	cfg        Config
	win        *Window
	mode       string
	lastSwitch time.Time // zero until the first switch
	lastPeer   time.Time // last observation with a peer connected; starts at the policy's start

	below     int // consecutive full-window samples below Threshold
	atOrAbove int // consecutive full-window samples at or above Threshold, with peers
	recovered int // consecutive full-window samples at or above Threshold × RecoverFactor, with peers

	// Counters when assisting began: the share cap applies to bytes since then.
	assistBT, assistHTTP int64
}

// NewPolicy starts a policy in bt mode at start. Zero fields of cfg take their defaults; the
// caller validates cfg first when it comes from a user.
func NewPolicy(cfg Config, start time.Time) *Policy {
	cfg = cfg.withDefaults()
	return &Policy{
		cfg:      cfg,
		win:      NewWindow(cfg.Window),
		mode:     ModeBT,
		lastPeer: start,
	}
}

// Mode is the current mode.
func (p *Policy) Mode() string { return p.mode }

// Config is the policy's configuration, defaults filled in.
func (p *Policy) Config() Config { return p.cfg }

// SetThreshold changes the threshold, for example when AdaptThreshold gives a new value as the
// swarm grows. The value is clamped to MinThreshold–MaxThreshold.
func (p *Policy) SetThreshold(bps float64) {
	p.cfg.Threshold = math.Min(math.Max(bps, MinThreshold), MaxThreshold)
}

// Observe feeds one sample and answers the mode to be in.
func (p *Policy) Observe(o Observation) Decision {
	p.win.Add(o.At, o.BTTotal)
	rate := p.win.Rate(o.At)
	full := p.win.Full(o.At)
	th := p.cfg.Threshold
	up := th * p.cfg.RecoverFactor

	if o.Peers > 0 {
		p.lastPeer = o.At
	}
	absent, absentWhy := p.btAbsent(o)

	p.below = countIf(p.below, full && rate < th)
	// Recovery only counts while peers are connected: bytes from before the peers left can keep
	// the window rate up for a while and must not look like a comeback.
	p.atOrAbove = countIf(p.atOrAbove, full && !absent && o.Peers > 0 && rate >= th)
	p.recovered = countIf(p.recovered, full && !absent && o.Peers > 0 && rate >= up)

	n := p.cfg.MinSamplesBelow
	wait := p.cooldownLeft(o.At)
	var reason string
	switch p.mode {
	case ModeBT, ModeAssist:
		if absent {
			return p.switchTo(ModeHTTPMain, o, rate, absentWhy)
		}
		if p.mode == ModeBT {
			switch {
			case !full:
				reason = fmt.Sprintf("measuring bt: %s so far", FormatRate(rate))
			case p.below >= n && wait > 0:
				reason = fmt.Sprintf("bt %s below %s; cooldown %s left", FormatRate(rate), FormatRate(th), secs(wait.Round(time.Second)))
			case p.below >= n:
				return p.switchTo(ModeAssist, o, rate,
					fmt.Sprintf("bt %s below %s for %d samples", FormatRate(rate), FormatRate(th), p.below))
			case p.below > 0:
				reason = fmt.Sprintf("bt %s below %s for %d of %d samples", FormatRate(rate), FormatRate(th), p.below, n)
			default:
				reason = fmt.Sprintf("bt %s, threshold %s", FormatRate(rate), FormatRate(th))
			}
			break
		}
		switch {
		case p.recovered >= n && wait > 0:
			reason = fmt.Sprintf("bt %s back above %s; cooldown %s left", FormatRate(rate), FormatRate(up), secs(wait.Round(time.Second)))
		case p.recovered >= n:
			return p.switchTo(ModeBT, o, rate,
				fmt.Sprintf("bt %s back above %s for %d samples", FormatRate(rate), FormatRate(up), p.recovered))
		default:
			reason = fmt.Sprintf("bt %s below %s; http assisting", FormatRate(rate), FormatRate(up))
		}
	case ModeHTTPMain:
		switch {
		case absent:
			reason = absentWhy
		case p.atOrAbove >= n && wait > 0:
			reason = fmt.Sprintf("bt back at %s; cooldown %s left", FormatRate(rate), secs(wait.Round(time.Second)))
		case p.recovered >= n:
			return p.switchTo(ModeBT, o, rate,
				fmt.Sprintf("bt back at %s, above %s for %d samples", FormatRate(rate), FormatRate(up), p.recovered))
		case p.atOrAbove >= n:
			return p.switchTo(ModeAssist, o, rate,
				fmt.Sprintf("bt back at %s, above %s for %d samples", FormatRate(rate), FormatRate(th), p.atOrAbove))
		default:
			reason = fmt.Sprintf("bt peers connected, %s below %s", FormatRate(rate), FormatRate(th))
		}
	}
	return Decision{Mode: p.mode, Reason: reason, HTTPBudget: p.budget(o), Rate: rate}
}

// btAbsent reports whether BitTorrent cannot carry the download at all, and why.
func (p *Policy) btAbsent(o Observation) (bool, string) {
	if o.Peers > 0 {
		return false, ""
	}
	if o.BTFailing {
		return true, "every bt connection attempt failing"
	}
	if gone := o.At.Sub(p.lastPeer); gone >= p.cfg.BTGrace {
		return true, fmt.Sprintf("no bt peer for %s", secs(gone.Round(time.Second)))
	}
	return false, ""
}

func (p *Policy) cooldownLeft(at time.Time) time.Duration {
	if p.lastSwitch.IsZero() {
		return 0
	}
	return max(0, p.cfg.Cooldown-at.Sub(p.lastSwitch))
}

func (p *Policy) switchTo(mode string, o Observation, rate float64, reason string) Decision {
	p.mode = mode
	p.lastSwitch = o.At
	if mode == ModeAssist {
		p.assistBT, p.assistHTTP = o.BTTotal, o.HTTPTotal
	}
	return Decision{Mode: mode, Changed: true, Reason: reason, HTTPBudget: p.budget(o), Rate: rate}
}

// budget is how many bytes HTTP may fetch now: see "HTTP share cap" in the package comment.
func (p *Policy) budget(o Observation) int64 {
	switch p.mode {
	case ModeHTTPMain:
		return Unlimited
	case ModeAssist:
	default:
		return 0
	}
	// A counter that went backwards was reset; measure from its new value.
	if o.BTTotal < p.assistBT {
		p.assistBT = o.BTTotal
	}
	if o.HTTPTotal < p.assistHTTP {
		p.assistHTTP = o.HTTPTotal
	}
	b := float64(o.BTTotal - p.assistBT)
	h := o.HTTPTotal - p.assistHTTP
	c := p.cfg.HTTPShareCap
	allowed := int64(math.Floor(c / (1 - c) * b))
	return max(0, allowed-h)
}

func countIf(n int, cond bool) int {
	if cond {
		return n + 1
	}
	return 0
}
