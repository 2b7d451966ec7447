package controller

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"slices"
	"time"

	"dist/core/api"
	"dist/core/selection"
	"dist/core/store"
)

// sampleEvery is the least time between two stored samples of one assignment: hosts report every
// second, and a sample every few seconds is plenty for speeds and time lines.
const sampleEvery = 3 * time.Second

// rateFresh is how long a relay's upload rate from its last report counts as its current load.
const rateFresh = 10 * time.Second

// sampleMark is what the controller remembers of an assignment's last report.
type sampleMark struct {
	host    string
	stored  time.Time // when the last sample was stored
	state   api.TaskState
	up      int64     // bytes_up at the last report
	at      time.Time // time of the last report
	upRate  int64     // bytes/s between the last two reports
	present bool
}

// sample records a sample for each task of the report whose last one is older than sampleEvery or
// whose state changed, and keeps each task's upload rate for the relay policy. Samples are for
// reports only: they are written with the next flush of progress (progress.go), and a failure
// to store them is logged, never answered.
func (s *Server) sample(rep api.Report, now time.Time) []store.Sample {
	var out []store.Sample
	fs := s.fleet
	fs.mu.Lock()
	for _, t := range rep.Tasks {
		distID, host, role, ok := api.SplitAssignmentID(t.ID)
		if !ok || host != rep.Host {
			continue
		}
		m := fs.lastSeen[t.ID]
		if m.present && now.After(m.at) {
			m.upRate = max(0, (t.BytesUp-m.up)*1000/max(now.Sub(m.at).Milliseconds(), 1))
		}
		keep := !m.present || now.Sub(m.stored) >= sampleEvery || (t.State != "" && t.State != m.state)
		m.host, m.up, m.at, m.present = host, t.BytesUp, now, true
		if t.State != "" {
			m.state = t.State
		}
		if keep {
			m.stored = now
			out = append(out, sampleOf(distID, host, role, t, now))
		}
		fs.lastSeen[t.ID] = m
	}
	fs.mu.Unlock()
	return out
}

func sampleOf(distID, host string, role api.Role, t api.TaskReport, at time.Time) store.Sample {
	return store.Sample{DistID: distID, Host: host, Role: role, At: at, State: t.State, Have: t.Have,
		BytesBT: t.BytesBT, BytesHTTPRelay: t.BytesHTTPRelay, BytesHTTPOrigin: t.BytesHTTPOrigin,
		BytesUp: t.BytesUp, Peers: t.Peers}
}

// forgetQuiet drops what is remembered of assignments not reported for a minute: their next
// report simply starts afresh.
func (s *Server) forgetQuiet(now time.Time) {
	fs := s.fleet
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for id, m := range fs.lastSeen {
		if now.Sub(m.at) > time.Minute {
			delete(fs.lastSeen, id)
		}
	}
}

// upRate answers the upload rate host reported across its tasks in the last few seconds.
func (s *Server) upRate(host string, now time.Time) int64 {
	fs := s.fleet
	fs.mu.Lock()
	defer fs.mu.Unlock()
	var sum int64
	for _, m := range fs.lastSeen {
		if m.host == host && now.Sub(m.at) <= rateFresh {
			sum += m.upRate
		}
	}
	return sum
}

// distReport answers GET /v1/distributions/{id}/report.
func (s *Server) distReport(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	s.flushProgress(ctx)
	d, err := s.distribution(ctx, r.PathValue("id"))
	if err != nil {
		return err
	}
	one := []api.Distribution{d}
	if err := s.withLifecycle(ctx, one); err != nil {
		return fmt.Errorf("read deadline of %s: %w", d.ID, err)
	}
	d = one[0]
	samples, err := s.st.Samples(ctx, d.ID)
	if err != nil {
		return fmt.Errorf("read samples of %s: %w", d.ID, err)
	}
	s.settleEvents()
	evs, err := s.st.Events(ctx, d.ID, 0)
	if err != nil {
		return fmt.Errorf("read events of %s: %w", d.ID, err)
	}
	hosts, err := s.allHosts(ctx)
	if err != nil {
		return fmt.Errorf("list hosts: %w", err)
	}
	writeJSON(w, http.StatusOK, BuildReport(d, hosts, samples, evs, s.now()))
	return nil
}

// BuildReport computes a distribution's report from its stored state: d with its assignments, the
// hosts (for their site labels), its samples and its events. now ends the elapsed time of a
// distribution still running.
func BuildReport(d api.Distribution, hosts []api.Host, samples []store.Sample, evs []store.Event, now time.Time) api.DistReport {
	siteOf := map[string]string{}
	for _, h := range hosts {
		siteOf[h.Name] = h.Labels[selection.SiteLabel]
	}
	end := now
	if !d.EndedAt.IsZero() {
		end = d.EndedAt
	}
	rep := api.DistReport{
		ID: d.ID, Name: d.Name, State: d.State, Size: d.Size, CreatedAt: d.CreatedAt, EndedAt: d.EndedAt,
		Deadline: d.Deadline, Priority: d.Priority, ElapsedMs: max(end.Sub(d.CreatedAt).Milliseconds(), 0),
		Samples: len(samples), Sites: []api.SiteReport{}, Hosts: []api.HostReport{}, Relays: []string{},
		Failures: []api.FailureReport{},
	}
	switches := map[string]int{}
	for _, e := range evs {
		if e.Kind == "mode" {
			switches[e.Host]++
			rep.AssistSwitches++
		}
	}
	// Speed from samples for clients still downloading: the first and last sample with bytes.
	type span struct{ first, last store.Sample }
	spans := map[string]*span{}
	for _, x := range samples {
		if x.Role != api.RoleClient || x.Have <= 0 {
			continue
		}
		if sp, ok := spans[x.Host]; ok {
			sp.last = x
		} else {
			spans[x.Host] = &span{first: x, last: x}
		}
	}

	var completion, firstByte []int64
	var speedSum, speedN int64
	sites := map[string]*api.SiteReport{}
	siteDone := map[string][]int64{}
	siteSpeed := map[string][2]int64{}
	for _, a := range d.Assignments {
		if a.Role == api.RoleRelay {
			rep.Relays = append(rep.Relays, a.Host)
			rep.RelayOrigin += a.BytesHTTPOrigin
			if a.State == api.TaskFailed {
				rep.Failures = append(rep.Failures, api.FailureReport{Host: a.Host, Role: a.Role, Reason: reason(a.Error), At: a.UpdatedAt})
			}
			continue
		}
		site := siteOf[a.Host]
		sr := sites[site]
		if sr == nil {
			sr = &api.SiteReport{Site: site}
			sites[site] = sr
		}
		b := api.BytesBySource{BT: a.BytesBT, HTTPRelay: a.BytesHTTPRelay, HTTPOrigin: a.BytesHTTPOrigin,
			Zero: a.BytesZero, Kept: a.BytesKept}
		hr := api.HostReport{Host: a.Host, Site: site, State: a.State, Have: a.Have, Bytes: b,
			Switches: switches[a.Host], Error: a.Error}
		rep.Targets++
		sr.Targets++
		rep.Bytes = addBytes(rep.Bytes, b)
		sr.Bytes = addBytes(sr.Bytes, b)
		if !a.FirstByteAt.IsZero() {
			hr.FirstByteMs = max(a.FirstByteAt.Sub(d.CreatedAt).Milliseconds(), 1)
			firstByte = append(firstByte, hr.FirstByteMs)
		}
		done := a.State.Complete()
		switch {
		case done:
			rep.Done++
			sr.Done++
			at := a.DoneAt
			if at.IsZero() {
				at = a.UpdatedAt
			}
			hr.DoneMs = max(at.Sub(d.CreatedAt).Milliseconds(), 1)
			completion = append(completion, hr.DoneMs)
			siteDone[site] = append(siteDone[site], hr.DoneMs)
			if !a.FirstByteAt.IsZero() {
				hr.Speed = rate(a.Have, at.Sub(a.FirstByteAt))
			}
		case a.State == api.TaskFailed:
			rep.Failed++
			sr.Failed++
			rep.Failures = append(rep.Failures, api.FailureReport{Host: a.Host, Role: a.Role, Reason: reason(a.Error), At: a.UpdatedAt})
		}
		if hr.Speed == 0 {
			if sp := spans[a.Host]; sp != nil && sp.last.At.After(sp.first.At) {
				hr.Speed = rate(sp.last.Have-sp.first.Have, sp.last.At.Sub(sp.first.At))
			} else if !a.FirstByteAt.IsZero() && a.UpdatedAt.After(a.FirstByteAt) {
				hr.Speed = rate(a.Have, a.UpdatedAt.Sub(a.FirstByteAt))
			}
		}
		if hr.Speed > 0 {
			speedSum += hr.Speed
			speedN++
			ss := siteSpeed[site]
			siteSpeed[site] = [2]int64{ss[0] + hr.Speed, ss[1] + 1}
		}
		rep.Hosts = append(rep.Hosts, hr)
	}
	for site, sr := range sites {
		sr.Completion = percentiles(siteDone[site])
		if ss := siteSpeed[site]; ss[1] > 0 {
			sr.AvgSpeed = ss[0] / ss[1]
		}
		rep.Sites = append(rep.Sites, *sr)
	}
	slices.SortFunc(rep.Sites, func(a, b api.SiteReport) int { return cmp.Compare(a.Site, b.Site) })
	slices.SortFunc(rep.Hosts, func(a, b api.HostReport) int { return cmp.Compare(a.Host, b.Host) })
	rep.Completion = percentiles(completion)
	rep.TimeToFirstByte = percentiles(firstByte)
	if speedN > 0 {
		rep.AvgSpeed = speedSum / speedN
	}
	var have int64
	for _, h := range rep.Hosts {
		have += h.Have
	}
	if rep.ElapsedMs > 0 {
		rep.TotalSpeed = have * 1000 / rep.ElapsedMs
	}
	if d.Size > 0 && rep.Targets > 0 {
		rep.Progress = float64(have) / float64(d.Size*int64(rep.Targets))
	}
	rep.OriginBytes = rep.RelayOrigin + rep.Bytes.HTTPOrigin
	if d.Size > 0 {
		rep.OriginPerFile = float64(rep.OriginBytes) / float64(d.Size)
	}
	return rep
}

func addBytes(a, b api.BytesBySource) api.BytesBySource {
	return api.BytesBySource{BT: a.BT + b.BT, HTTPRelay: a.HTTPRelay + b.HTTPRelay, HTTPOrigin: a.HTTPOrigin + b.HTTPOrigin,
		Zero: a.Zero + b.Zero, Kept: a.Kept + b.Kept}
}

func reason(msg string) string {
	if msg == "" {
		return "no reason given"
	}
	return msg
}

// rate answers n bytes over d in bytes/s, 0 for an empty span.
func rate(n int64, d time.Duration) int64 {
	ms := d.Milliseconds()
	if ms <= 0 || n <= 0 {
		return 0
	}
	return n * 1000 / ms
}

// percentiles answers the nearest-rank percentiles of xs.
func percentiles(xs []int64) api.Percentiles {
	if len(xs) == 0 {
		return api.Percentiles{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	at := func(p int) int64 {
		i := (p*len(s)+99)/100 - 1
		return s[min(max(i, 0), len(s)-1)]
	}
	return api.Percentiles{N: len(s), P50: at(50), P90: at(90), P99: at(99), Max: s[len(s)-1]}
}

// Count is one figure under a key.
type Count struct {
	Key string
	N   int64
}

// Stats is the controller's state in figures, for /metrics.
type Stats struct {
	Distributions []Count // by state
	Assignments   []Count // of live distributions, by "role/state"
	Bytes         []Count // received by clients of live distributions, by source
	Hosts, Online int64   // offline and online hosts
}

// Stats answers the controller's figures now.
func (s *Server) Stats(ctx context.Context) (Stats, error) {
	var out Stats
	s.flushProgress(ctx)
	ds, err := s.st.Distributions(ctx)
	if err != nil {
		return out, fmt.Errorf("list distributions: %w", err)
	}
	byState := map[string]int64{}
	byAssign := map[string]int64{}
	var bytes api.BytesBySource
	for _, d := range ds {
		byState[string(d.State)]++
		if d.State.Ended() {
			continue
		}
		bytes = addBytes(bytes, api.BytesBySource{BT: d.BytesBT, HTTPRelay: d.BytesHTTPRelay, HTTPOrigin: d.BytesHTTPOrigin})
		as, err := s.st.Assignments(ctx, d.ID)
		if err != nil {
			return out, fmt.Errorf("assignments of %s: %w", d.ID, err)
		}
		for _, a := range as {
			byAssign[string(a.Role)+"/"+string(a.State)]++
		}
	}
	out.Distributions = counts(byState)
	out.Assignments = counts(byAssign)
	out.Bytes = []Count{{api.SourceBT, bytes.BT}, {api.SourceHTTPRelay, bytes.HTTPRelay}, {api.SourceHTTPOrigin, bytes.HTTPOrigin}}
	hs, err := s.allHosts(ctx)
	if err != nil {
		return out, fmt.Errorf("list hosts: %w", err)
	}
	now := s.now()
	for _, h := range hs {
		if s.online(h, now) {
			out.Online++
		} else {
			out.Hosts++
		}
	}
	return out, nil
}

func counts(m map[string]int64) []Count {
	out := make([]Count, 0, len(m))
	for k, n := range m {
		out = append(out, Count{k, n})
	}
	slices.SortFunc(out, func(a, b Count) int { return cmp.Compare(a.Key, b.Key) })
	return out
}
