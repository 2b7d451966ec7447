package tui

import (
	"cmp"
	"slices"
	"time"

	"dist/core/api"
	"dist/core/hybrid"
	"dist/core/printable"
)

// filler builds the view model from the API types; it keeps the previous counters to turn them
// into rates.
type filler struct {
	r *rates
}

func newFiller() *filler { return &filler{r: newRates()} }

// dist fills one distribution's line from the API's aggregates.
func (f *filler) dist(d api.Distribution, now time.Time) Dist {
	v := Dist{
		ID: d.ID, Name: printable.String(d.Name), State: d.State, Size: d.Size,
		Targets: d.Targets, Done: d.Done, Failed: d.Failed, Have: d.Have,
		BytesBT: d.BytesBT, BytesRelay: d.BytesHTTPRelay, BytesOrigin: d.BytesHTTPOrigin,
		Created: d.CreatedAt, ETA: -1,
	}
	v.Rate = f.r.rate("d/"+d.ID, now, d.Have)
	v.ETA = eta(v)
	return v
}

// eta is the time left at the current rate for the targets that have not failed, -1 when unknown.
func eta(d Dist) time.Duration {
	if d.State.Ended() {
		return 0
	}
	left := d.Size*int64(d.Targets-d.Failed) - d.Have
	if d.Rate <= 0 || left < 0 {
		return -1
	}
	return time.Duration(float64(left) / d.Rate * float64(time.Second)).Round(time.Second)
}

// swarm fills the selected distribution's hosts and relays from GET /v1/distributions/{id}.
func (f *filler) swarm(d api.Distribution, now time.Time) *Swarm {
	s := &Swarm{Dist: f.dist(d, now)}
	if r := StallLine(CommonStall(d)); r != "" && s.Dist.Rate <= 0 {
		s.Dist.Reason = r
	}
	cooldown := hybrid.DefaultCooldown
	if d.Settings != nil && d.Settings.CooldownMs > 0 {
		cooldown = time.Duration(d.Settings.CooldownMs) * time.Millisecond
	}
	for _, a := range d.Assignments {
		key := "a/" + a.ID
		if a.Role == api.RoleRelay {
			s.Relays = append(s.Relays, Relay{
				Name: printable.String(a.Host), State: ShownState(d.State, a.State), Have: a.Have, Size: d.Size,
				Rate: f.r.rate(key+"/pull", now, a.Have), Up: a.BytesUp, Clients: a.Peers,
				Error: Failure(d, a), Stall: Stall(d, a),
			})
			continue
		}
		h := Host{
			Name: printable.String(a.Host), State: ShownState(d.State, a.State), Have: a.Have, Size: d.Size, Peers: a.Peers,
			Error: Failure(d, a), Stall: Stall(d, a),
			RateBT:   f.r.rate(key+"/bt", now, a.BytesBT),
			RateHTTP: f.r.rate(key+"/http", now, a.BytesHTTPRelay+a.BytesHTTPOrigin),
			Assist:   printable.String(a.Mode), Reason: printable.String(a.ModeReason),
		}
		if a.Mode != "" && !a.ModeAt.IsZero() && h.State.Active() {
			h.Cooldown = max(0, a.ModeAt.Add(cooldown).Sub(now)).Round(time.Second)
		}
		s.Hosts = append(s.Hosts, h)
	}
	// A relay's peers are the clients it serves over BitTorrent; before the metainfo exists clients
	// stream over HTTP instead, which only a lone relay can be credited with.
	if len(s.Relays) == 1 {
		http := 0
		for _, a := range d.Assignments {
			if a.Role == api.RoleClient && a.BytesHTTPRelay > 0 && a.State.Active() {
				http++
			}
		}
		s.Relays[0].Clients = max(s.Relays[0].Clients, http)
	}
	slices.SortStableFunc(s.Relays, func(a, b Relay) int { return cmp.Compare(a.Name, b.Name) })
	slices.SortStableFunc(s.Hosts, func(a, b Host) int { return cmp.Compare(a.Name, b.Name) })
	return s
}

// local fills the local daemon's view from its LocalAPI status.
func (f *filler) local(st api.Status, now time.Time) *Local {
	l := &Local{Name: printable.String(st.Name), Roles: st.Roles, Controller: printable.String(st.Controller)}
	for _, t := range st.Tasks {
		dist, _, role, _ := api.SplitAssignmentID(t.ID)
		key := "t/" + t.ID
		h := Host{
			Name: printable.String(st.Name), Dist: dist, Role: role, State: t.State, Have: t.Have, Peers: t.Peers,
			RateBT:   f.r.rate(key+"/bt", now, t.BytesBT),
			RateHTTP: f.r.rate(key+"/http", now, t.BytesHTTPRelay+t.BytesHTTPOrigin),
			Assist:   printable.String(t.Mode), Reason: printable.String(t.ModeReason),
		}
		// The report carries a failure as its error, and why an active task is not moving too.
		if t.State == api.TaskFailed {
			h.Error = printable.String(t.Error)
		} else if t.State.Active() {
			h.Stall = printable.String(t.Error)
		}
		l.Tasks = append(l.Tasks, h)
	}
	return l
}

// events converts the controller's events (store.Event's JSON) into the pane's lines.
func events(in []apiEvent) []Event {
	out := make([]Event, 0, len(in))
	for _, e := range in {
		out = append(out, Event{At: e.At, Dist: printable.String(e.DistID), Host: printable.String(e.Host), Kind: printable.String(e.Kind), Msg: printable.String(e.Msg)})
	}
	return out
}

// apiEvent is one element of GET /v1/events.
type apiEvent struct {
	At     time.Time `json:"at"`
	DistID string    `json:"dist_id"`
	Host   string    `json:"host"`
	Kind   string    `json:"kind"`
	Msg    string    `json:"msg"`
}
