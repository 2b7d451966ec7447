package controller_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"dist/core/api"
)

func TestPeers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.fleet()
	e.register("c5", "b", api.RoleClient)
	e.register("pub", "b", api.RoleClient)
	d, err := e.admin.CreateDistribution(ctxT(t), api.CreateDistribution{
		Source: "http://pub:7700/v1/content/x", Name: "image.iso", To: []string{"all"},
		Publisher: "pub", Metainfo: torrent(t, fileSize), Relays: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	e.report("c3", api.TaskReport{ID: api.AssignmentID(d.ID, "c3", api.RoleClient), State: api.TaskDone, Have: fileSize})
	e.report("c4", api.TaskReport{ID: api.AssignmentID(d.ID, "c4", api.RoleClient), State: api.TaskFailed, Error: "boom"})
	// c5 goes quiet: everyone else refreshes, c5 drops offline.
	e.clock.Advance(time.Minute)
	for _, h := range []struct {
		name, site string
		role       api.Role
	}{
		{"relay-a", "a", api.RoleRelay}, {"relay-b", "b", api.RoleRelay}, {"c1", "a", api.RoleClient},
		{"c2", "a", api.RoleClient}, {"c3", "a", api.RoleClient}, {"c4", "b", api.RoleClient}, {"pub", "b", api.RoleClient},
	} {
		e.register(h.name, h.site, h.role)
	}

	peers, err := e.host.Peers(ctxT(t), d.ID, "c1")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range peers {
		got = append(got, p.Host)
		if p.BTAddr != p.Host+":6881" || p.HTTPURL != "http://"+p.Host+":7700" {
			t.Errorf("peer %+v lacks its addresses", p)
		}
	}
	// Complete first (c3 same site, then pub), then relays (relay-a same site), then the rest;
	// self (c1), the failed c4 and the offline c5 are left out.
	want := []string{"c3", "pub", "relay-a", "relay-b", "c2"}
	if len(got) != len(want) {
		t.Fatalf("peers %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("peers %v, want %v", got, want)
		}
	}
	if !peers[0].Complete || !peers[1].Complete || !peers[2].Relay || peers[2].Complete || peers[4].Relay {
		t.Errorf("flags %+v", peers)
	}
}

func TestPeersUnknownDistribution(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.fleet()
	_, err := e.host.Peers(ctxT(t), "nope", "c1")
	if status, code := statusCode(t, err); status != http.StatusNotFound || code != api.CodeNotFound {
		t.Fatalf("status %d code %q, want 404 not_found", status, code)
	}
}

// Answers kept for the hosts of one kind never list the asker, and a state change is in the
// answers from a quarter second on (a kept answer is reused while the tracker index is unchanged,
// and, in a fleet whose index changes all the time, for a quarter second whatever changed).
func TestPeersKeptAnswers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for i := range 12 {
		e.register(fmt.Sprintf("c%02d", i), "a", api.RoleClient)
	}
	e.register("relay-a", "a", api.RoleRelay)
	d, err := e.admin.CreateDistribution(ctxT(t), api.CreateDistribution{
		Source: "http://origin.test/files/image.iso", To: []string{"all"}, Relays: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	ask := func(host string) []api.Peer {
		t.Helper()
		ps, err := e.host.Peers(ctxT(t), d.ID, host)
		if err != nil {
			t.Fatalf("peers of %s: %v", host, err)
		}
		return ps
	}
	// Twice round the fleet: the second round is answered from kept answers.
	for round := range 2 {
		for i := range 12 {
			name := fmt.Sprintf("c%02d", i)
			ps := ask(name)
			if len(ps) != 12 { // the other 11 clients and the relay
				t.Errorf("round %d: %s got %d peers, want 12", round, name, len(ps))
			}
			for _, p := range ps {
				if p.Host == name {
					t.Errorf("round %d: %s is in its own answer", round, name)
				}
			}
		}
	}
	e.report("c07", api.TaskReport{ID: api.AssignmentID(d.ID, "c07", api.RoleClient), State: api.TaskDone, Have: fileSize})
	e.clock.Advance(250 * time.Millisecond)
	for _, name := range []string{"c00", "c11"} {
		if ps := ask(name); len(ps) == 0 || ps[0].Host != "c07" || !ps[0].Complete {
			t.Errorf("after c07 is done, %s got %+v first, want c07 complete", name, ps)
		}
	}
}
