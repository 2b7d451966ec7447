package quota

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// ExportVersion is the version of the document Export writes. Import reads any version from 1
// on: later versions only add fields, which an older reader ignores.
const ExportVersion = 1

// exported is the whole state of an Allocator: with it another process (another controller
// sharing the database) carries on exactly where this one stopped. Times are Unix nanoseconds (0:
// none): exact, and several times quicker to write and read than RFC 3339 text, which matters
// because an origin's whole state is read and written on every lease operation.
type exported struct {
	V            int            `json:"v"`
	Limits       exportedLimits `json:"limits"`
	Epoch        string         `json:"epoch,omitempty"`
	Seq          uint64         `json:"seq,omitempty"`
	Leases       []exportedHeld `json:"leases,omitempty"`
	Waiting      []exportedWait `json:"waiting,omitempty"`
	Factor       float64        `json:"factor"`
	LastDecrease int64          `json:"last_decrease_ns,omitempty"`
	LastTrouble  int64          `json:"last_trouble_ns,omitempty"`
	LastIncrease int64          `json:"last_increase_ns,omitempty"`
	Latency      float64        `json:"latency,omitempty"`
	LatencyN     int            `json:"latency_n,omitempty"`
	WindowStart  int64          `json:"window_start_ns,omitempty"`
	Spent        int64          `json:"spent,omitempty"`
	QuietUntil   int64          `json:"quiet_until_ns,omitempty"`
}

type exportedLimits struct {
	MaxConns int   `json:"max_conns,omitempty"`
	MaxRate  int64 `json:"max_rate,omitempty"`
	MaxBytes int64 `json:"max_bytes,omitempty"`
	WindowMs int64 `json:"window_ms,omitempty"`
}

// exportedReq is a Request; its holder is the lease's or the waiter's.
type exportedReq struct {
	Relay     bool    `json:"relay,omitempty"`
	Conns     int     `json:"conns,omitempty"`
	Rate      int64   `json:"rate,omitempty"`
	Bandwidth float64 `json:"bandwidth,omitempty"`
	Priority  float64 `json:"priority,omitempty"`
	History   float64 `json:"history,omitempty"`
}

// exportedHeld is a live lease: its last grant, what its holder asked for, when the grant began
// and the granted bytes not yet reported.
type exportedHeld struct {
	ID          string      `json:"id"`
	Holder      string      `json:"holder"`
	Relay       bool        `json:"relay,omitempty"`
	Conns       int         `json:"conns"`
	Rate        int64       `json:"rate"`
	Bytes       int64       `json:"bytes"`
	Expires     int64       `json:"expires_ns"`
	Req         exportedReq `json:"req"`
	Since       int64       `json:"since_ns"`
	Outstanding int64       `json:"outstanding,omitempty"`
}

type exportedWait struct {
	Holder  string      `json:"holder"`
	Req     exportedReq `json:"req"`
	Since   int64       `json:"since_ns"`
	Expires int64       `json:"expires_ns"`
}

func exportReq(r Request) exportedReq {
	return exportedReq{Relay: r.Relay, Conns: r.Conns, Rate: r.Rate, Bandwidth: r.Bandwidth, Priority: r.Priority, History: r.History}
}

func (r exportedReq) request(holder string) Request {
	return Request{Holder: holder, Relay: r.Relay, Conns: r.Conns, Rate: r.Rate,
		Bandwidth: r.Bandwidth, Priority: r.Priority, History: r.History}
}

// ns and fromNs write and read a time; the zero time is 0. Read times are UTC.
func ns(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNs(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// Export answers the allocator's whole state as a JSON document: limits, every lease with its
// request, start and unreported bytes, the holders waiting, the capacity factor and its timers,
// the byte window, the usual latency and the lease id sequence. The lease lifetime and the
// reserve are not in it: they are the configuration of whoever imports it. Nothing is advanced.
func (a *Allocator) Export() ([]byte, error) {
	x := exported{
		V: ExportVersion,
		Limits: exportedLimits{MaxConns: a.limits.MaxConns, MaxRate: a.limits.MaxRate, MaxBytes: a.limits.MaxBytes,
			WindowMs: a.limits.Window.Milliseconds()},
		Epoch: a.epoch, Seq: a.seq, Factor: a.factor,
		LastDecrease: ns(a.lastDecrease), LastTrouble: ns(a.lastTrouble), LastIncrease: ns(a.lastIncrease),
		Latency: a.latency, LatencyN: a.latencyN, WindowStart: ns(a.winStart), Spent: a.spent, QuietUntil: ns(a.quietUntil),
	}
	for _, e := range a.leases {
		l := e.lease
		x.Leases = append(x.Leases, exportedHeld{ID: l.ID, Holder: l.Holder, Relay: l.Relay, Conns: l.Conns, Rate: l.Rate,
			Bytes: l.Bytes, Expires: ns(l.Expires), Req: exportReq(e.req), Since: ns(e.since), Outstanding: e.outstanding})
	}
	for h, w := range a.wait {
		x.Waiting = append(x.Waiting, exportedWait{Holder: h, Req: exportReq(w.req), Since: ns(w.since), Expires: ns(w.expires)})
	}
	// Map order is random: a fixed order makes equal states equal documents.
	sortExported(&x)
	b, err := json.Marshal(x)
	if err != nil {
		return nil, fmt.Errorf("export allocator: %w", err)
	}
	return b, nil
}

// Import replaces the allocator's state by one Export wrote, here or in another process. The
// allocator keeps its own lease lifetime and reserve. On error it is left as it was.
func (a *Allocator) Import(doc []byte) error {
	var x exported
	if err := json.Unmarshal(doc, &x); err != nil {
		return fmt.Errorf("import allocator: %w", err)
	}
	if x.V < 1 {
		return errors.New("import allocator: the document has no version: it was not written by Export")
	}
	l := Limits{MaxConns: x.Limits.MaxConns, MaxRate: x.Limits.MaxRate, MaxBytes: x.Limits.MaxBytes,
		Window: time.Duration(x.Limits.WindowMs) * time.Millisecond}
	if err := l.Validate(); err != nil {
		return fmt.Errorf("import allocator: limits: %w", err)
	}
	leases := make(map[string]*entry, len(x.Leases))
	holder := make(map[string]string, len(x.Leases))
	for _, h := range x.Leases {
		if h.ID == "" || h.Holder == "" {
			return errors.New("import allocator: a lease without an id or a holder")
		}
		if _, dup := leases[h.ID]; dup {
			return fmt.Errorf("import allocator: lease %s twice", h.ID)
		}
		if _, dup := holder[h.Holder]; dup {
			return fmt.Errorf("import allocator: holder %s has two leases", h.Holder)
		}
		l := Lease{ID: h.ID, Holder: h.Holder, Relay: h.Relay, Conns: h.Conns, Rate: h.Rate, Bytes: h.Bytes, Expires: fromNs(h.Expires)}
		leases[h.ID] = &entry{lease: l, req: h.Req.request(h.Holder), since: fromNs(h.Since), outstanding: h.Outstanding}
		holder[h.Holder] = h.ID
	}
	wait := make(map[string]*waiter, len(x.Waiting))
	for _, w := range x.Waiting {
		if w.Holder == "" {
			return errors.New("import allocator: a waiting holder without a name")
		}
		wait[w.Holder] = &waiter{req: w.Req.request(w.Holder), since: fromNs(w.Since), expires: fromNs(w.Expires)}
	}
	factor := x.Factor
	if factor <= 0 || factor > 1 {
		factor = 1
	}
	a.limits, a.epoch, a.seq = l, x.Epoch, x.Seq
	a.leases, a.holder, a.wait = leases, holder, wait
	a.factor, a.lastDecrease, a.lastTrouble, a.lastIncrease = factor, fromNs(x.LastDecrease), fromNs(x.LastTrouble), fromNs(x.LastIncrease)
	a.latency, a.latencyN = x.Latency, x.LatencyN
	a.winStart, a.spent, a.quietUntil = fromNs(x.WindowStart), x.Spent, fromNs(x.QuietUntil)
	return nil
}

// Lease answers the live lease with id as last granted, without advancing the allocator: an
// expired lease is still answered until the next call that advances it drops it.
func (a *Allocator) Lease(id string) (Lease, bool) {
	e, ok := a.leases[id]
	if !ok {
		return Lease{}, false
	}
	return e.lease, true
}

func sortExported(x *exported) {
	slices.SortFunc(x.Leases, func(p, q exportedHeld) int { return strings.Compare(p.ID, q.ID) })
	slices.SortFunc(x.Waiting, func(p, q exportedWait) int { return strings.Compare(p.Holder, q.Holder) })
}
