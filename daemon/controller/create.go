package controller

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"

	"dist/core/api"
	"dist/core/hybrid"
	"dist/core/selection"
	"dist/core/store"
)

// Piece lengths a push may ask for: BitTorrent moves 16 KiB blocks, and the design allows pieces
// up to 64 MiB for images.
const (
	minPieceLen = 16 << 10
	maxPieceLen = 64 << 20
)

// idLen is the length of a distribution id: 10 base32 characters, 50 random bits, short enough to
// type and far from colliding (a collision is retried anyway).
const idLen = 10

// createDistribution answers POST /v1/distributions.
func (s *Server) createDistribution(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	var req api.CreateDistribution
	if err := decodeLimited(w, r, &req, maxPushBody, pushFieldMax); err != nil {
		return err
	}
	if err := checkPush(req); err != nil {
		return err
	}
	d, err := s.plan(req)
	if err != nil {
		return err
	}
	if err := s.checkLifecycle(req); err != nil {
		return err
	}
	hosts, err := s.admittedHosts(ctx) // not those waiting for approval, denied or revoked
	if err != nil {
		return fmt.Errorf("list hosts: %w", err)
	}
	tgts, err := targets(d.Selectors, hosts)
	if err != nil {
		return err
	}
	if err := s.size(ctx, &d, req.Metainfo); err != nil {
		return err
	}
	relays, err := s.chooseRelays(ctx, hosts, tgts, req)
	if err != nil {
		return err
	}

	now := s.now()
	d.State = api.DistPending
	d.CreatedAt = now
	as := make([]api.Assignment, 0, len(relays)+len(tgts))
	for _, name := range relays {
		as = append(as, api.Assignment{Host: name, Role: api.RoleRelay, State: api.TaskPending, UpdatedAt: now})
	}
	for _, h := range tgts {
		as = append(as, api.Assignment{Host: h.Name, Role: api.RoleClient, State: api.TaskPending, UpdatedAt: now})
	}
	d.Deadline, d.Priority = req.Deadline.Truncate(time.Millisecond).UTC(), req.Priority
	if err := s.insert(ctx, &d, req.Metainfo, as); err != nil {
		return err
	}
	s.event(ctx, store.Event{DistID: d.ID, Kind: "created",
		Msg: fmt.Sprintf("created %s (%d bytes) for %d targets with relays [%s]", d.Name, d.Size, len(tgts), strings.Join(relays, ", "))})
	s.log.Info("distribution created", "id", d.ID, "name", d.Name, "size", d.Size, "targets", len(tgts), "relays", relays)
	out, err := s.st.Distribution(ctx, d.ID)
	if err != nil {
		return fmt.Errorf("read distribution %s back: %w", d.ID, err)
	}
	// Read back before any host learns of it: that read is its view, kept at once.
	s.install(out)
	s.forgetLive() // a host registering from now on may join it
	names := make([]string, 0, len(as))
	for _, a := range as {
		names = append(names, a.Host)
	}
	s.notify.wakeHosts(names)
	s.joinLateTargets(ctx, d, tgts)

	out.Metainfo = nil // the caller sent it or a relay will publish it; GET /v1/distributions/{id} has it
	// The deadline as the store keeps it: to the millisecond.
	out.Deadline, out.Priority = req.Deadline.Truncate(time.Millisecond).UTC(), req.Priority
	writeJSON(w, http.StatusCreated, out)
	return nil
}

// plan validates the request and fills what the request alone decides.
func (s *Server) plan(req api.CreateDistribution) (api.Distribution, error) {
	u, err := url.Parse(req.Source)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return api.Distribution{}, badRequest("source must be an http or https url, got %q", req.Source)
	}
	sels, err := cleanSelectors(req.To)
	if err != nil {
		return api.Distribution{}, err
	}
	name := strings.TrimSpace(req.Name)
	// With a metainfo and no name, size() takes the metainfo's name: a published file's URL ends
	// in its info hash, not its name.
	if name == "" && len(req.Metainfo) == 0 {
		name = path.Base(u.Path)
		if name == "/" || name == "." {
			return api.Distribution{}, badRequest("source %q has no file name: set --name", req.Source)
		}
	}
	if name == "." || name == ".." || strings.ContainsAny(name, `/\`) {
		return api.Distribution{}, badRequest("name %q is not a plain file name: set --name", name)
	}
	if req.Relays < 0 {
		return api.Distribution{}, badRequest("relays is %d: use 0 (automatic) or more", req.Relays)
	}
	// Each target checks base against its own destination roots; what no host could take is refused here.
	if err := checkString("base", req.Base, maxURLLen); err != nil {
		return api.Distribution{}, err
	}
	if req.Base != "" && !path.IsAbs(req.Base) {
		return api.Distribution{}, badRequest("base %q is not an absolute path: give the older version's path on the targets", req.Base)
	}
	sum := strings.ToLower(strings.TrimSpace(req.SHA256))
	if sum != "" {
		if b, err := hex.DecodeString(sum); err != nil || len(b) != 32 {
			return api.Distribution{}, badRequest("sha256 %q is not 64 hex digits", req.SHA256)
		}
	}
	if pl := req.PieceLen; pl != 0 && (pl < minPieceLen || pl > maxPieceLen || pl&(pl-1) != 0) {
		return api.Distribution{}, badRequest("piece length %d is not a power of two between 16 KiB and 64 MiB", pl)
	}
	if req.Settings != nil {
		if err := hybrid.ValidateSettings(*req.Settings); err != nil {
			return api.Distribution{}, badRequest("settings: %v", err)
		}
	}
	return api.Distribution{
		Name:        name,
		Source:      req.Source,
		PieceLength: req.PieceLen,
		SHA256:      sum,
		Dest:        req.Dest,
		Base:        req.Base,
		Publisher:   req.Publisher,
		Selectors:   sels,
		Settings:    req.Settings,
	}, nil
}

// size fills the size (and, with a metainfo, piece length and info hash) and checks the source is
// reachable: a push that no host could fetch is refused now rather than failing on every target.
func (s *Server) size(ctx context.Context, d *api.Distribution, mi []byte) error {
	if len(mi) > 0 {
		ti, err := parseMetainfo(mi)
		if err != nil {
			return badRequest("%v", err)
		}
		d.Size, d.PieceLength, d.InfoHash = ti.Size, ti.PieceLen, ti.InfoHash
		if d.Name == "" {
			d.Name = ti.Name
		}
		if s.o.Probe == nil {
			return nil
		}
		n, err := s.o.Probe(ctx, d.Source)
		if err != nil {
			return sourceError(err)
		}
		if n > 0 && n != ti.Size {
			return errorf(http.StatusUnprocessableEntity, api.CodeSource,
				"source is %d bytes but the metainfo describes %d: push the file the source serves", n, ti.Size)
		}
		return nil
	}
	if s.o.Probe == nil {
		return errorf(http.StatusUnprocessableEntity, api.CodeSource,
			"the controller cannot probe sources: push with metainfo (publish a local file) instead")
	}
	n, err := s.o.Probe(ctx, d.Source)
	if err != nil {
		return sourceError(err)
	}
	if n <= 0 {
		return errorf(http.StatusUnprocessableEntity, api.CodeSource,
			"source %s reports no size: serve a non-empty file with a Content-Length", d.Source)
	}
	d.Size = n
	return nil
}

func sourceError(err error) error {
	return errorf(http.StatusUnprocessableEntity, api.CodeSource, "%v", err)
}

// chooseRelays picks the relays among online relay hosts other than the publisher.
func (s *Server) chooseRelays(ctx context.Context, hosts, tgts []api.Host, req api.CreateDistribution) ([]string, error) {
	// Load and history of each online relay (relays.go).
	cands, err := s.relayCandidates(ctx, hosts, req.Publisher, s.now())
	if err != nil {
		return nil, err
	}
	n := selection.RelayCount(len(tgts), req.Relays, len(cands))
	relays := s.pickRelays(ctx, req, tgts, cands, n)
	if len(relays) == 0 && len(req.Metainfo) == 0 {
		// Without a metainfo nobody can join a swarm until a relay has hashed the file.
		return nil, errorf(http.StatusUnprocessableEntity, api.CodeNoRelay,
			"no relay is online: start a daemon with --role relay")
	}
	return relays, nil
}

// insert writes the distribution under a fresh id, retrying the rare id collision.
func (s *Server) insert(ctx context.Context, d *api.Distribution, mi []byte, as []api.Assignment) error {
	for range 5 {
		d.ID = randomID(idLen)
		for i := range as {
			as[i].DistID = d.ID
			as[i].ID = api.AssignmentID(d.ID, as[i].Host, as[i].Role)
		}
		err := s.st.CreateDistribution(ctx, *d, mi, as)
		if errors.Is(err, store.ErrExists) {
			continue
		}
		if err != nil {
			return fmt.Errorf("store distribution: %w", err)
		}
		return nil
	}
	return errors.New("store distribution: no free id after 5 tries")
}

// joinLateTargets joins the hosts that match the push but came to be known while it was made (a
// registration here, or one at another controller heard over the bus), after its targets were
// picked and before a registering host could see it live: nobody else would add them.
func (s *Server) joinLateTargets(ctx context.Context, d api.Distribution, tgts []api.Host) {
	hosts, err := s.admittedHosts(ctx)
	if err != nil || len(hosts) == len(tgts) {
		return
	}
	picked := make(map[string]bool, len(tgts))
	for _, h := range tgts {
		picked[h.Name] = true
	}
	for _, h := range hosts {
		if picked[h.Name] || !h.HasRole(api.RoleClient) ||
			!slices.ContainsFunc(d.Selectors, func(sel string) bool { return matches(sel, h) }) {
			continue
		}
		if err := s.join(ctx, h); err != nil {
			s.log.Warn("cannot join a host that registered during a push", "id", d.ID, "host", h.Name, "err", err)
		}
	}
}
