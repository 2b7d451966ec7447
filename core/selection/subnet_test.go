package selection

import (
	"net"
	"testing"

	"dist/core/api"
)

// sameSubnetParsed is sameSubnet as it was written over net.ParseIP: the parse without
// allocations must answer the same for every pair.
func sameSubnetParsed(a, b api.Host) bool {
	na, nb := a.Labels[NetworkLabel], b.Labels[NetworkLabel]
	if na != "" || nb != "" {
		return na == nb
	}
	ia, ib := addrIP(a.BTAddr), addrIP(b.BTAddr)
	if ia == nil || ib == nil {
		return false
	}
	if a4, b4 := ia.To4(), ib.To4(); a4 != nil && b4 != nil {
		return a4.Mask(net.CIDRMask(24, 32)).Equal(b4.Mask(net.CIDRMask(24, 32)))
	}
	return ia.Mask(net.CIDRMask(64, 128)).Equal(ib.Mask(net.CIDRMask(64, 128)))
}

func TestSameSubnetMatchesParseIP(t *testing.T) {
	t.Parallel()
	addrs := []string{"10.0.0.1:6881", "10.0.0.200:1", "10.0.1.1:6881", "[::ffff:10.0.0.7]:6881",
		"[2001:db8::1]:6881", "[2001:db8::ffff:1]:1", "[2001:db8:0:1::1]:1", "[::1]:6881", "[::]:1",
		"[fe80::1%eth0]:6881", "host.example:6881", "10.0.0.1", "", ":6881", "[10.0.0.1]:1",
		"010.0.0.1:1", "[::ffff:10.0.1.1]:1", "0.0.0.0:1"}
	var hosts []api.Host
	for _, a := range addrs {
		hosts = append(hosts, api.Host{BTAddr: a})
	}
	hosts = append(hosts,
		api.Host{BTAddr: "10.0.0.1:1", Labels: map[string]string{NetworkLabel: "lan"}},
		api.Host{BTAddr: "192.168.0.1:1", Labels: map[string]string{NetworkLabel: "lan"}},
		api.Host{BTAddr: "10.0.0.1:1", Labels: map[string]string{NetworkLabel: "other"}})
	for _, a := range hosts {
		for _, b := range hosts {
			if got, want := sameSubnet(a, b), sameSubnetParsed(a, b); got != want {
				t.Errorf("sameSubnet(%q %v, %q %v) = %v, want %v", a.BTAddr, a.Labels, b.BTAddr, b.Labels, got, want)
			}
		}
	}
}
