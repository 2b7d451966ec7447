package controller

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"dist/core/api"
	"dist/core/selection"
	"dist/core/store"
)

// A distView is what the controller keeps in memory of one distribution so that a report, a state
// change or a peers ask costs work in proportion to itself, not to the fleet: the state of each
// assignment, the client counters, an index of members by class, site and subnet for the tracker,
// and the relay each client is pointed at. It is built from the store with one read and kept
// current by the report path; any other change to the distribution's assignments drops it and the
// next use builds it again.
type distView struct {
	d       api.Distribution // no Assignments; Metainfo kept
	members map[string]*member
	clients map[api.TaskState]int
	relays  []*member
	idx     map[string]map[string]*member // class key → host → member (keys: classKeys)

	// The pointing and the kept peers answers are written by peers asks, which read the view
	// together under the views' shared lock: they are published whole through atomic pointers,
	// read without a lock, and only a recomputation takes cache. Under one lock, a wake-up's
	// thousands of asks queued behind every holder the scheduler had set aside.
	cache    sync.Mutex
	pointCur atomic.Pointer[pointing]
	liveBuf  []api.Host // reused by pointed under cache: looking at the relays allocates nothing

	rev      atomic.Uint64               // bumped by every change of the tracker index (under the views' lock)
	relayRev uint64                      // bumped by the changes of it that move a relay (pointed)
	answers  atomic.Pointer[answerCache] // recent peers answers (peers.go)
}

// pointing is one computation of the relay each client is pointed at; never changed once
// published.
type pointing struct {
	rev   uint64            // relayRev when the live relays were looked at
	at    time.Time         // and when
	live  []string          // the live relays it was computed for, in v.relays' order
	point map[string]string // client → relay
}

func (p *pointing) fresh(relayRev uint64, now time.Time) bool {
	return p != nil && p.rev == relayRev && now.Sub(p.at) < pointFresh && !now.Before(p.at)
}

// answerCache holds recent peers answers by asker kind; replaced whole when it grows too big.
type answerCache struct {
	m sync.Map // key → *peersEntry
	n atomic.Int32
}

// maxAnswers bounds the peers answers kept per distribution.
const maxAnswers = 4096

// answer answers the kept peers answer for key, if any.
func (v *distView) answer(key string) *peersEntry {
	c := v.answers.Load()
	if c == nil {
		return nil
	}
	e, _ := c.m.Load(key)
	pe, _ := e.(*peersEntry)
	return pe
}

// keepAnswer keeps e as the peers answer for key.
func (v *distView) keepAnswer(key string, e *peersEntry) {
	c := v.answers.Load()
	if c == nil || c.n.Load() >= maxAnswers {
		v.answers.CompareAndSwap(c, &answerCache{})
		c = v.answers.Load()
	}
	if _, loaded := c.m.Swap(key, e); !loaded {
		c.n.Add(1)
	}
}

// member is one assignment in a view.
type member struct {
	id, host     string
	role         api.Role
	state        api.TaskState
	site, subnet string
	labels       map[string]string
	cls          byte      // tracker class: classComplete, classRelay, classMember or 0 (not handed out)
	modeAt       time.Time // the stored mode time when the view was built (modes.go)
}

// pointFresh is how long the set of live relays behind the pointing is taken as it was.
const pointFresh = time.Second

// Tracker classes, in the order OrderPeers ranks them.
const (
	classComplete = 'c'
	classRelay    = 'r'
	classMember   = 'm'
)

func classOf(role api.Role, st api.TaskState) byte {
	switch {
	case st.Stopped():
		return 0
	case st.Complete():
		return classComplete
	case role == api.RoleRelay:
		return classRelay
	}
	return classMember
}

// classKeys answers the index keys of a member of class c: the whole class, its site, and its
// site and subnet.
func classKeys(c byte, site, subnet string) [3]string {
	k := string(c)
	return [3]string{k, k + "|" + site, k + "|" + site + "|" + subnet}
}

// subnetOf answers the private network of h: its network label, else the /24 (IPv4) or /64 (IPv6)
// of its BitTorrent address, as selection.OrderPeers judges nearness.
func subnetOf(h api.Host) string {
	if n := h.Labels[selection.NetworkLabel]; n != "" {
		return "net:" + n
	}
	ap, err := netip.ParseAddrPort(h.BTAddr)
	if err != nil {
		return ""
	}
	bits := 64
	if ap.Addr().Unmap().Is4() {
		bits = 24
	}
	p, err := ap.Addr().Unmap().Prefix(bits)
	if err != nil {
		return ""
	}
	return p.String()
}

func (v *distView) index(m *member) {
	v.rev.Add(1)
	if m.role != api.RoleClient {
		v.relayRev++
	}
	m.cls = classOf(m.role, m.state)
	if m.cls == 0 {
		return
	}
	for _, k := range classKeys(m.cls, m.site, m.subnet) {
		set := v.idx[k]
		if set == nil {
			set = map[string]*member{}
			v.idx[k] = set
		}
		set[m.host] = m
	}
}

func (v *distView) unindex(m *member) {
	v.rev.Add(1)
	if m.role != api.RoleClient {
		v.relayRev++
	}
	if m.cls == 0 {
		return
	}
	for _, k := range classKeys(m.cls, m.site, m.subnet) {
		delete(v.idx[k], m.host)
	}
	m.cls = 0
}

// setState moves one assignment to state st: O(1).
func (v *distView) setState(id string, st api.TaskState) {
	m := v.members[id]
	if m == nil || m.state == st {
		return
	}
	if m.role == api.RoleClient {
		v.clients[m.state]--
		v.clients[st]++
	}
	m.state = st
	if classOf(m.role, st) != m.cls {
		// Only a change of class moves it in the index (and makes kept answers stale): waiting,
		// downloading and seeding a push through changes none.
		v.unindex(m)
		v.index(m)
	}
	// A relay that stops moves its clients: pointed() sees it in the set of live relays.
}

// figures answers the distribution's client counters.
func (v *distView) figures() (targets, done, failed int) {
	for st, n := range v.clients {
		targets += n
		switch {
		case st.Complete():
			done += n
		case st == api.TaskFailed:
			failed += n
		}
	}
	return targets, done, failed
}

func buildView(d api.Distribution, host func(string) (api.Host, bool)) *distView {
	v := &distView{members: make(map[string]*member, len(d.Assignments)), clients: map[api.TaskState]int{},
		idx: map[string]map[string]*member{}}
	for _, a := range d.Assignments {
		h, _ := host(a.Host)
		m := &member{id: a.ID, host: a.Host, role: a.Role, state: a.State, site: h.Labels[selection.SiteLabel],
			subnet: subnetOf(h), labels: h.Labels, modeAt: a.ModeAt}
		v.members[a.ID] = m
		if a.Role == api.RoleClient {
			v.clients[a.State]++
		} else {
			v.relays = append(v.relays, m)
		}
		v.index(m)
	}
	d.Assignments = nil
	v.d = d
	return v
}

// views holds the distributions' views and the per-distribution locks.
type views struct {
	// mu guards the views, memory only: never held across a store call. Readers share it (a
	// push's ten thousand watch answers read the same view at once); changes take it alone.
	mu    sync.RWMutex
	byID  map[string]*distView
	gen   map[string]uint64      // bumped by every change the views cannot follow
	build map[string]*sync.Mutex // one build at a time per distribution
	locks map[string]*sync.Mutex // serialises read-check-write sequences of one distribution

	meta   map[string][]byte   // metainfo by the SHA-256 of its bytes (GET /v1/metainfo/{sum})
	metaOf map[string]string   // distribution id → that sum
	metaIn map[string][]string // sum → the distributions whose metainfo it is (membership checks)

	// pending holds, per distribution whose view is being built, the state changes stored since
	// the build began: the built view takes them in rather than being thrown away, so a view
	// of a distribution whose hosts report all the time still gets built.
	pending map[string][]stateChange

	watch watchList // the distributions watch answers name (watchlist.go)
}

type stateChange struct {
	id string
	st api.TaskState
}

func newViews() *views {
	return &views{byID: map[string]*distView{}, gen: map[string]uint64{}, build: map[string]*sync.Mutex{},
		locks: map[string]*sync.Mutex{}, meta: map[string][]byte{}, metaOf: map[string]string{}, metaIn: map[string][]string{},
		pending: map[string][]stateChange{}}
}

// metaSum answers the SHA-256 of a distribution's metainfo, keeping the bytes under it for
// GET /v1/metainfo/{sum}; it hashes each distribution's metainfo once.
func (vs *views) metaSum(distID string, mi []byte) string {
	if len(mi) == 0 {
		return ""
	}
	vs.mu.RLock()
	sum, ok := vs.metaOf[distID]
	vs.mu.RUnlock()
	if ok {
		return sum
	}
	h := sha256.Sum256(mi)
	sum = hex.EncodeToString(h[:])
	vs.mu.Lock()
	vs.metaOf[distID] = sum
	vs.meta[sum] = mi
	if !slices.Contains(vs.metaIn[sum], distID) {
		vs.metaIn[sum] = append(vs.metaIn[sum], distID)
	}
	vs.mu.Unlock()
	return sum
}

// metaSumOf answers the sum of distribution id's metainfo when it has one, reading the bytes
// (from its view) only the first time.
func (s *Server) metaSumOf(ctx context.Context, id string, has bool) string {
	if !has {
		return ""
	}
	s.views.mu.RLock()
	sum, ok := s.views.metaOf[id]
	s.views.mu.RUnlock()
	if ok {
		return sum
	}
	var mi []byte
	if err := s.readView(ctx, id, func(v *distView) { mi = v.d.Metainfo }); err != nil {
		s.log.Warn("cannot read a metainfo", "id", id, "err", err)
		return ""
	}
	return s.views.metaSum(id, mi)
}

// metainfo answers the metainfo whose bytes hash to sum.
func (vs *views) metainfo(sum string) ([]byte, bool) {
	vs.mu.RLock()
	defer vs.mu.RUnlock()
	b, ok := vs.meta[sum]
	return b, ok
}

// dropAll drops every view: the next use of each builds it from the store.
func (vs *views) dropAll() {
	vs.mu.Lock()
	for id := range vs.byID {
		delete(vs.byID, id)
		vs.gen[id]++
	}
	for id := range vs.pending {
		vs.gen[id]++
	}
	vs.mu.Unlock()
}

func (vs *views) drop(id string) {
	vs.mu.Lock()
	delete(vs.byID, id)
	vs.gen[id]++
	vs.mu.Unlock()
}

// distLock answers the lock of one distribution: two requests about it (a state derivation, a
// metainfo, a cancel, a relay replacement) take turns; requests about others do not wait.
func (s *Server) distLock(id string) *sync.Mutex {
	vs := s.views
	vs.mu.RLock()
	l := vs.locks[id]
	vs.mu.RUnlock()
	if l != nil {
		return l // every state change asks: taking the views alone would queue it behind readers
	}
	vs.mu.Lock()
	defer vs.mu.Unlock()
	l = vs.locks[id]
	if l == nil {
		l = new(sync.Mutex)
		vs.locks[id] = l
	}
	return l
}

// readView calls fn with the view of distribution id as withView does, sharing the views' lock
// with other readers: fn must only read the view (pointed and keepAnswer publish what they write).
func (s *Server) readView(ctx context.Context, id string, fn func(v *distView)) error {
	vs := s.views
	vs.mu.RLock()
	if v := vs.byID[id]; v != nil {
		fn(v)
		vs.mu.RUnlock()
		return nil
	}
	vs.mu.RUnlock()
	return s.withView(ctx, id, fn) // builds it
}

// withView calls fn with the view of distribution id, building it from the store when it is not
// held. fn runs under the views' lock: it must be quick and call nothing that blocks. A missing
// distribution answers store.ErrNotFound (wrapped).
func (s *Server) withView(ctx context.Context, id string, fn func(v *distView)) error {
	vs := s.views
	var last *distView
	for range 3 {
		vs.mu.Lock()
		if v := vs.byID[id]; v != nil {
			fn(v)
			vs.mu.Unlock()
			return nil
		}
		bm := vs.build[id]
		if bm == nil {
			bm = new(sync.Mutex)
			vs.build[id] = bm
		}
		vs.mu.Unlock()

		bm.Lock()
		vs.mu.Lock()
		if v := vs.byID[id]; v != nil { // another request built it meanwhile
			fn(v)
			vs.mu.Unlock()
			bm.Unlock()
			return nil
		}
		gen := vs.gen[id]
		vs.pending[id] = []stateChange{} // from now on applyStates records here
		vs.mu.Unlock()
		d, err := s.st.Distribution(ctx, id)
		if err == nil {
			err = s.hostsReady(ctx)
		}
		if err != nil {
			vs.mu.Lock()
			delete(vs.pending, id)
			vs.mu.Unlock()
			bm.Unlock()
			return err
		}
		s.hosts.mu.RLock()
		v := buildView(d, s.hosts.get)
		s.hosts.mu.RUnlock()
		vs.mu.Lock()
		changes := vs.pending[id]
		delete(vs.pending, id)
		// States stored while it was read are taken in again (in the order they were stored): the
		// view may have read some of them already, and setting a state twice is harmless.
		for _, c := range changes {
			v.setState(c.id, c.st)
		}
		if vs.gen[id] == gen {
			vs.byID[id] = v
			fn(v)
			vs.mu.Unlock()
			bm.Unlock()
			return nil
		}
		vs.mu.Unlock()
		bm.Unlock()
		last = v // changed while it was read: read again
	}
	vs.mu.Lock()
	fn(last)
	vs.mu.Unlock()
	return nil
}

// wakeDist releases the held watches of the hosts of one distribution: its tasks changed for
// them, and for nobody else.
func (s *Server) wakeDist(ctx context.Context, id string) {
	var names []string
	err := s.readView(ctx, id, func(v *distView) {
		names = make([]string, 0, len(v.members))
		for _, m := range v.members {
			names = append(names, m.host)
		}
	})
	if err != nil {
		s.log.Warn("cannot read the hosts of a distribution: waking every watch", "id", id, "err", err)
		s.notify.wake()
		return
	}
	s.notify.wakeHosts(names)
}

// install keeps the view of a distribution just stored, d with its assignments as stored, unless
// anything changed it since (its generation moved from 0, the id being new) or a view is held
// already: a push need not read back its own thousands of assignments under the load it causes.
func (s *Server) install(d api.Distribution) {
	const gen = 0
	s.hosts.mu.RLock()
	v := buildView(d, s.hosts.get)
	s.hosts.mu.RUnlock()
	vs := s.views
	vs.mu.Lock()
	defer vs.mu.Unlock()
	if vs.gen[d.ID] != gen || vs.byID[d.ID] != nil || vs.pending[d.ID] != nil {
		return
	}
	vs.byID[d.ID] = v
}

// applyStates follows state changes stored by a report.
func (vs *views) applyStates(changed map[string]api.TaskState) {
	vs.mu.Lock()
	defer vs.mu.Unlock()
	for id, st := range changed {
		distID, _, _, _ := api.SplitAssignmentID(id)
		switch v := vs.byID[distID]; {
		case v != nil:
			v.setState(id, st)
		case vs.pending[distID] != nil:
			vs.pending[distID] = append(vs.pending[distID], stateChange{id, st}) // for the view being built
		default:
			vs.gen[distID]++ // a view built from what was read before must not be kept
		}
	}
}

// pointed answers the relay client is pointed at. Pointing is computed over the whole
// distribution once per set of live relays (selection.Point), not per ask.
func (v *distView) pointed(client string, alive func(name string) (api.Host, bool), now time.Time) string {
	// Relays come and go by their state (setState bumps relayRev) and by time (online): the set
	// is looked at again on a change of a relay, or after pointFresh, not on every ask (nor on
	// each of a push's client changes, which move no relay).
	p := v.pointCur.Load()
	if p.fresh(v.relayRev, now) {
		return p.point[client]
	}
	if !v.cache.TryLock() {
		if p != nil {
			return p.point[client] // another ask looks at the relays now: a moment old will do
		}
		v.cache.Lock()
	}
	defer v.cache.Unlock()
	if p = v.pointCur.Load(); p.fresh(v.relayRev, now) {
		return p.point[client]
	}
	// The live relays are compared in place with those of the last pointing: during a push the
	// set is looked at about once per ask and rarely differs.
	live := v.liveBuf[:0]
	same := p != nil
	for _, r := range v.relays {
		if r.state.Stopped() {
			continue
		}
		if h, ok := alive(r.host); ok {
			same = same && len(live) < len(p.live) && p.live[len(live)] == r.host
			live = append(live, h)
		}
	}
	v.liveBuf = live
	next := &pointing{rev: v.relayRev, at: now}
	if same && len(live) == len(p.live) {
		next.live, next.point = p.live, p.point
	} else {
		var clients []api.Host
		for _, m := range v.members {
			if m.role == api.RoleClient {
				clients = append(clients, api.Host{Name: m.host, Labels: m.labels})
			}
		}
		next.point = selection.Point(live, clients)
		next.live = make([]string, len(live))
		for i, h := range live {
			next.live[i] = h.Name
		}
	}
	v.pointCur.Store(next)
	return next.point[client]
}

// peerCands answers at most limit candidates for self from the index: complete members first,
// then the relay self is pointed at, then other relays, then the rest; within each class those of
// self's site and subnet, then of its site, then any. Each bucket is looked at for a bounded
// number of entries, so an ask costs O(limit), never O(fleet).
//
// asker names the host the relay pointing is for; self, whose name is left out, may be a copy of
// it without a name (an answer kept for others of its kind).
//
// subnet is subnetOf(self). The candidates are appended to sc's buffer, which the caller gives
// back once they are ordered.
func (v *distView) peerCands(self api.Host, subnet, asker string, limit int, online func(name string) (api.Host, bool), now time.Time, sc *candScratch) []selection.PeerCand {
	site := self.Labels[selection.SiteLabel]
	taken := sc.taken
	taken[self.Name] = true
	out := sc.cands[:0]
	add := func(m *member, pointed bool) {
		if taken[m.host] || len(out) >= limit {
			return
		}
		h, ok := online(m.host)
		if !ok || h.BTAddr == "" {
			return
		}
		taken[m.host] = true
		out = append(out, selection.PeerCand{Host: h, Relay: m.role == api.RoleRelay, Complete: m.state.Complete(), Pointed: pointed})
	}
	if p := v.d.Publisher; p != "" && !taken[p] {
		if h, ok := online(p); ok && h.BTAddr != "" {
			taken[p] = true
			out = append(out, selection.PeerCand{Host: h, Complete: true})
		}
	}
	pointed := v.pointed(asker, online, now)
	for _, c := range []byte{classComplete, classRelay, classMember} {
		if c == classRelay && pointed != "" {
			for _, r := range v.relays {
				if r.host == pointed && r.cls == classRelay {
					add(r, true)
				}
			}
		}
		keys := classKeys(c, site, subnet)
		for i := len(keys) - 1; i >= 0 && len(out) < limit; i-- {
			looked := 0
			for _, m := range v.idx[keys[i]] {
				if len(out) >= limit || looked >= 4*limit {
					break
				}
				looked++
				add(m, m.host == pointed)
			}
		}
	}
	return out
}

// viewStore is the store as the controller uses it: every write that changes a distribution's
// assignments keeps its view current or drops it, so no caller can forget to.
type viewStore struct {
	store.Store
	views *views
	hosts *hostIndex
	c     *cluster // the other controllers hear of each change too; nil when alone
}

func (vs viewStore) ApplyReport(ctx context.Context, host string, r []api.TaskReport, now time.Time) ([]string, error) {
	changed, err := vs.Store.ApplyReport(ctx, host, r, now)
	if len(changed) > 0 {
		states := make(map[string]api.TaskState, len(changed))
		for _, t := range r {
			if t.State != "" && slices.Contains(changed, t.ID) {
				states[t.ID] = t.State
			}
		}
		vs.views.applyStates(states)
		vs.c.states(states)
	}
	return changed, err
}

func (vs viewStore) ApplyReports(ctx context.Context, batch []store.HostReport) ([]string, error) {
	changed, err := vs.Store.ApplyReports(ctx, batch)
	if len(changed) > 0 {
		is := make(map[string]bool, len(changed))
		for _, id := range changed {
			is[id] = true
		}
		states := make(map[string]api.TaskState, len(changed))
		for _, b := range batch {
			for _, t := range b.Tasks {
				if t.State != "" && is[t.ID] {
					states[t.ID] = t.State
				}
			}
		}
		vs.views.applyStates(states)
		vs.c.states(states)
	}
	return changed, err
}

func (vs viewStore) SetMetainfo(ctx context.Context, id string, metainfo []byte, infoHash string, pieceLen int64) error {
	err := vs.Store.SetMetainfo(ctx, id, metainfo, infoHash, pieceLen)
	vs.c.dist(id)
	if err == nil {
		vs.views.mu.Lock()
		if v := vs.views.byID[id]; v != nil {
			v.d.Metainfo, v.d.InfoHash, v.d.PieceLength = metainfo, infoHash, pieceLen
		}
		vs.views.mu.Unlock()
	} else {
		vs.views.drop(id)
	}
	return err
}

func (vs viewStore) CreateDistribution(ctx context.Context, d api.Distribution, metainfo []byte, as []api.Assignment) error {
	defer vs.views.watch.changed()
	defer vs.c.dist(d.ID)
	return vs.Store.CreateDistribution(ctx, d, metainfo, as)
}

func (vs viewStore) SetDistributionState(ctx context.Context, id string, state api.DistState, ended time.Time) error {
	defer vs.views.watch.changed()
	err := vs.Store.SetDistributionState(ctx, id, state, ended)
	vs.c.dist(id)
	if err == nil {
		vs.views.mu.Lock()
		if v := vs.views.byID[id]; v != nil {
			v.d.State = state
			if !ended.IsZero() {
				v.d.EndedAt = ended.UTC().Truncate(time.Millisecond)
			}
		}
		vs.views.mu.Unlock()
	} else {
		vs.views.drop(id)
	}
	return err
}

func (vs viewStore) AddAssignments(ctx context.Context, distID string, as []api.Assignment) ([]string, error) {
	added, err := vs.Store.AddAssignments(ctx, distID, as)
	if len(added) > 0 || err != nil {
		vs.c.dist(distID)
	}
	// A host that registers again is offered its distributions again: when it has them already
	// nothing was added, and the view (thousands of members) is kept. A joiner is added to it:
	// reading thousands of assignments again for each of a fleet's joiners would cost O(N²).
	if err != nil || (len(added) > 0 && !vs.views.addClients(distID, as, added, vs.hosts)) {
		vs.views.drop(distID)
	}
	return added, err
}

// addClients adds the client assignments of as whose ids are in added to the distribution's
// view, if it has one and none is being built; false when it could not (the caller drops it).
func (vs *views) addClients(distID string, as []api.Assignment, added []string, hosts *hostIndex) bool {
	if hosts == nil {
		return false
	}
	ms := make([]*member, 0, len(added))
	hosts.mu.RLock()
	for _, a := range as {
		id := api.AssignmentID(distID, a.Host, a.Role)
		if !slices.Contains(added, id) {
			continue
		}
		if a.Role != api.RoleClient {
			hosts.mu.RUnlock()
			return false // a relay changes the pointing: built again
		}
		h, _ := hosts.get(a.Host)
		ms = append(ms, &member{id: id, host: a.Host, role: a.Role, state: a.State,
			site: h.Labels[selection.SiteLabel], subnet: subnetOf(h), labels: h.Labels})
	}
	hosts.mu.RUnlock()
	if len(ms) != len(added) {
		return false
	}
	vs.mu.Lock()
	defer vs.mu.Unlock()
	v := vs.byID[distID]
	if v == nil || vs.pending[distID] != nil {
		vs.gen[distID]++ // a view being built may have read before the addition
		return v == nil && vs.pending[distID] == nil
	}
	for _, m := range ms {
		if v.members[m.id] != nil {
			continue
		}
		v.members[m.id] = m
		v.clients[m.state]++
		v.index(m)
	}
	return true
}

func (vs viewStore) EndAssignment(ctx context.Context, id string, state api.TaskState, errMsg string, at time.Time) (bool, error) {
	distID, _, _, _ := api.SplitAssignmentID(id)
	defer vs.views.drop(distID)
	defer vs.c.dist(distID)
	return vs.Store.EndAssignment(ctx, id, state, errMsg, at)
}

func (vs viewStore) ReplaceRelay(ctx context.Context, distID, lost, reason, next string, at time.Time, ev store.Event) error {
	defer vs.views.drop(distID)
	defer vs.c.dist(distID)
	return vs.Store.ReplaceRelay(ctx, distID, lost, reason, next, at, ev)
}

func (vs viewStore) ReopenAssignment(ctx context.Context, id string, at time.Time, ev store.Event) (bool, error) {
	distID, _, _, _ := api.SplitAssignmentID(id)
	defer vs.views.drop(distID)
	defer vs.c.dist(distID)
	return vs.Store.ReopenAssignment(ctx, id, at, ev)
}
