package controller_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"dist/core/api"
	"dist/core/store"
)

// clientsOf answers the hosts of the client assignments, and the relays, of d.
func clientsOf(d api.Distribution) (clients, relays []string) {
	for _, a := range d.Assignments {
		if a.ID != api.AssignmentID(d.ID, a.Host, a.Role) || a.State != api.TaskPending {
			return []string{"bad assignment " + a.ID + " " + string(a.State)}, nil
		}
		if a.Role == api.RoleClient {
			clients = append(clients, a.Host)
		} else {
			relays = append(relays, a.Host)
		}
	}
	return clients, relays
}

func TestCreateSelectors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		to         []string
		wantTarget []string
		wantRelay  []string
	}{
		{"all", []string{"all"}, []string{"c1", "c2", "c3", "c4"}, []string{"relay-a"}},
		{"label", []string{"site=a"}, []string{"c1", "c2", "c3"}, []string{"relay-a"}},
		{"other site picks its relay", []string{"site=b"}, []string{"c4"}, []string{"relay-b"}},
		{"host name", []string{"c2"}, []string{"c2"}, []string{"relay-a"}},
		{"union of selectors", []string{"c4", " site=a "}, []string{"c1", "c2", "c3", "c4"}, []string{"relay-a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.fleet()
			d := e.create(tt.to...)
			if d.ID == "" || d.State != api.DistPending || d.Size != fileSize || d.Name != "image.iso" {
				t.Fatalf("created %+v", d)
			}
			if d.Metainfo != nil {
				t.Errorf("create answered metainfo")
			}
			if d.Targets != len(tt.wantTarget) {
				t.Errorf("targets = %d, want %d", d.Targets, len(tt.wantTarget))
			}
			clients, relays := clientsOf(d)
			if !slices.Equal(clients, tt.wantTarget) || !slices.Equal(relays, tt.wantRelay) {
				t.Errorf("clients %v relays %v, want %v %v", clients, relays, tt.wantTarget, tt.wantRelay)
			}
			var evs []store.Event
			if err := e.admin.Do(ctxT(t), "GET", "/v1/events?dist="+d.ID, nil, &evs); err != nil {
				t.Fatal(err)
			}
			if len(evs) != 1 || evs[0].Kind != "created" || evs[0].DistID != d.ID {
				t.Errorf("events %+v, want one created", evs)
			}
		})
	}
}

func TestCreateRefused(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		req      api.CreateDistribution
		status   int
		code     string
		msgParts []string
	}{
		{
			name:   "unknown selector",
			req:    api.CreateDistribution{Source: "http://origin.test/a.iso", To: []string{"site=a", "nope"}},
			status: http.StatusUnprocessableEntity, code: api.CodeNoTargets,
			msgParts: []string{`"nope"`, "dist hosts"},
		},
		{
			name:   "selector matching only relays",
			req:    api.CreateDistribution{Source: "http://origin.test/a.iso", To: []string{"relay-a"}},
			status: http.StatusUnprocessableEntity, code: api.CodeNoTargets,
			msgParts: []string{`"relay-a"`, "client"},
		},
		{
			name:   "probe error",
			req:    api.CreateDistribution{Source: brokenURL, To: []string{"all"}},
			status: http.StatusUnprocessableEntity, code: api.CodeSource,
			msgParts: []string{"404 not found"},
		},
		{
			name:   "not http",
			req:    api.CreateDistribution{Source: "ftp://origin.test/a.iso", To: []string{"all"}},
			status: http.StatusBadRequest, code: api.CodeBadRequest,
			msgParts: []string{"http"},
		},
		{
			name:   "no selector",
			req:    api.CreateDistribution{Source: "http://origin.test/a.iso", To: []string{" "}},
			status: http.StatusBadRequest, code: api.CodeBadRequest,
			msgParts: []string{"--to"},
		},
		{
			name:   "no name",
			req:    api.CreateDistribution{Source: "http://origin.test/", To: []string{"all"}},
			status: http.StatusBadRequest, code: api.CodeBadRequest,
			msgParts: []string{"--name"},
		},
		{
			name:   "bad checksum",
			req:    api.CreateDistribution{Source: "http://origin.test/a.iso", To: []string{"all"}, SHA256: "xyz"},
			status: http.StatusBadRequest, code: api.CodeBadRequest,
		},
		{
			name:   "bad piece length",
			req:    api.CreateDistribution{Source: "http://origin.test/a.iso", To: []string{"all"}, PieceLen: 1000},
			status: http.StatusBadRequest, code: api.CodeBadRequest,
		},
		{
			name:   "bad metainfo",
			req:    api.CreateDistribution{Source: "http://origin.test/a.iso", To: []string{"all"}, Metainfo: []byte("nope")},
			status: http.StatusBadRequest, code: api.CodeBadRequest,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.fleet()
			_, err := e.admin.CreateDistribution(ctxT(t), tt.req)
			status, code := statusCode(t, err)
			if status != tt.status || code != tt.code {
				t.Fatalf("status %d code %q, want %d %q (%v)", status, code, tt.status, tt.code, err)
			}
			for _, p := range tt.msgParts {
				if !strings.Contains(err.Error(), p) {
					t.Errorf("message %q does not mention %q", err.Error(), p)
				}
			}
			ds, err := e.admin.Distributions(ctxT(t))
			if err != nil || len(ds) != 0 {
				t.Fatalf("refused create stored something: %v %v", ds, err)
			}
		})
	}
}

func TestCreateNeedsRelayForURLSource(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.register("c1", "a", api.RoleClient)
	e.register("pub", "a", api.RoleRelay) // the only relay is the publisher: it does not count
	_, err := e.admin.CreateDistribution(ctxT(t), api.CreateDistribution{
		Source: "http://origin.test/a.iso", To: []string{"all"}, Publisher: "pub",
	})
	if status, code := statusCode(t, err); status != http.StatusUnprocessableEntity || code != api.CodeNoRelay {
		t.Fatalf("status %d code %q, want 422 no_relay (%v)", status, code, err)
	}
	if !strings.Contains(err.Error(), "--role relay") {
		t.Errorf("message %q does not say how to fix it", err)
	}

	// With metainfo the publisher seeds from the first second: no relay needed.
	mi := torrent(t, fileSize)
	d, err := e.admin.CreateDistribution(ctxT(t), api.CreateDistribution{
		Source: "http://pub:7700/v1/content/x", Name: "a.iso", To: []string{"all"}, Publisher: "pub", Metainfo: mi,
	})
	if err != nil {
		t.Fatalf("create with metainfo: %v", err)
	}
	if d.InfoHash == "" || d.PieceLength != 256<<10 || d.Size != fileSize || d.Publisher != "pub" {
		t.Errorf("created %+v", d)
	}
	if full := e.dist(d.ID); !slices.Equal(full.Metainfo, mi) {
		t.Errorf("metainfo not stored")
	}
}

func TestCreateMetainfoSizeMustMatchSource(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.fleet()
	_, err := e.admin.CreateDistribution(ctxT(t), api.CreateDistribution{
		Source: "http://origin.test/a.iso", To: []string{"all"}, Metainfo: torrent(t, fileSize+1),
	})
	if status, code := statusCode(t, err); status != http.StatusUnprocessableEntity || code != api.CodeSource {
		t.Fatalf("status %d code %q, want 422 source (%v)", status, code, err)
	}
}

func TestCreateRelayCount(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.fleet()
	d, err := e.admin.CreateDistribution(ctxT(t), api.CreateDistribution{
		Source: "http://origin.test/a.iso", To: []string{"all"}, Relays: 5,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, relays := clientsOf(d); !slices.Equal(relays, []string{"relay-a", "relay-b"}) {
		t.Fatalf("relays %v, want both", relays)
	}
	// A push to site b alone gets the relay of site b.
	d2 := e.create("c4")
	if _, relays := clientsOf(d2); !slices.Equal(relays, []string{"relay-b"}) {
		t.Fatalf("relays %v, want relay-b", relays)
	}
}

func TestOfflineRelayNotPicked(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.fleet()
	e.clock.Advance(time.Minute)
	e.register("c1", "a", api.RoleClient)
	e.register("relay-b", "b", api.RoleRelay)
	d := e.create("site=a")
	if _, relays := clientsOf(d); !slices.Equal(relays, []string{"relay-b"}) {
		t.Fatalf("relays %v, want the online relay-b", relays)
	}
}
