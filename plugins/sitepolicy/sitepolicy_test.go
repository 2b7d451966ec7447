package sitepolicy_test

import (
	"context"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"dist/core/api"
	"dist/core/selection"
	"dist/plugins/sitepolicy"
)

func host(name, addr string) api.Host { return api.Host{Name: name, BTAddr: addr + ":6881"} }

func TestParse(t *testing.T) {
	p, err := sitepolicy.Parse(strings.NewReader("# sites\n10.0.0.0/8 big\n10.2.0.0/16 fra # lab\n\n"))
	if err != nil {
		t.Fatal(err)
	}
	for addr, want := range map[string]string{"10.2.3.4": "fra", "10.9.0.1": "big", "192.0.2.1": "", "::ffff:10.2.0.1": "fra"} {
		if got := p.Site(netip.MustParseAddr(addr)); got != want {
			t.Errorf("Site(%s) = %q, want %q", addr, got, want)
		}
	}
	for _, bad := range []string{"10.0.0.0/8", "10.0.0.0/33 x", "a b c"} {
		if _, err := sitepolicy.Parse(strings.NewReader(bad)); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}

func TestChooseRelays(t *testing.T) {
	p, err := sitepolicy.Parse(strings.NewReader("127.0.1.0/24 east\n127.0.2.0/24 west\n127.0.3.0/24 north\n"))
	if err != nil {
		t.Fatal(err)
	}
	req := selection.Request{
		Targets: []api.Host{host("e1", "127.0.1.1"), host("w1", "127.0.2.1"), host("w2", "127.0.2.2"), host("n1", "127.0.3.1"), host("x1", "192.0.2.1")},
		Candidates: []selection.Candidate{
			{Host: host("re1", "127.0.1.9"), Active: 2},
			{Host: host("re2", "127.0.1.8"), Active: 0},
			{Host: host("rw1", "127.0.2.9"), Active: 0},
			{Host: host("rw2", "127.0.2.8"), Active: 0},
		},
		History: map[string]selection.History{"rw1": {Failed: 3}},
		Count:   1,
	}
	groups, err := p.ChooseRelays(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	want := []selection.Group{
		{Name: "east", Targets: []string{"e1"}, Relays: []string{"re2"}},            // least loaded
		{Name: "west", Targets: []string{"w1", "w2"}, Relays: []string{"rw2"}},      // rw1 failed before
		{Name: "elsewhere", Targets: []string{"n1", "x1"}, Relays: []string{"re1"}}, // north and unmapped: an unused relay
	}
	if !reflect.DeepEqual(groups, want) {
		t.Fatalf("groups\n%+v\nwant\n%+v", groups, want)
	}
	if err := selection.CheckGroups(req, groups); err != nil {
		t.Fatal(err)
	}
}
