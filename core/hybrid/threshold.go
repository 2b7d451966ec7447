package hybrid

import (
	"math"
	"strings"
)

// Network labels understood by AdaptThreshold. Any other label (or none) leaves the threshold as is.
const (
	NetworkLAN      = "lan"
	NetworkWAN      = "wan"
	NetworkCellular = "cellular"
)

// AdaptThreshold turns the base BT threshold (bytes/s; 0 means DefaultThreshold) into the one a
// download should use, from the file size, the host's network type and the swarm size. The result
// is base × size factor × network factor × swarm factor, clamped to MinThreshold–MaxThreshold.
//
// Size factor: each 16-fold growth of the file doubles the threshold, with 4 GiB as ×1; so 1 GiB is
// ×0.71, 16 GiB ×1.41, and the factor stops at ×0.5 (256 MiB and smaller) and ×2 (64 GiB and
// larger). A big image at a slow rate costs hours, so it earns HTTP help sooner; a small file is
// done soon anyway and HTTP would mostly load the relays. Unknown sizes (≤ 0) are ×1.
//
// Network factor: "lan" ×2, "wan" ×1, "cellular" ×0.5. On a LAN, peers should deliver far more than
// the base, so a low rate means BitTorrent is not working well; on a cellular link the base may be
// near the link's own capacity, where HTTP would only compete with BitTorrent for the same link.
//
// Swarm factor: 1 up to 10 hosts, then −0.25 per tenfold growth, stopping at 0.5 from 1000 hosts
// (100 hosts ×0.75). In a big swarm every host starts with few peers holding few pieces, and the
// rate climbs as pieces spread; switching thousands of hosts to HTTP in that phase would move the
// whole load onto the relays, which is what the swarm is there to avoid.
func AdaptThreshold(base float64, fileSize int64, network string, swarmSize int) float64 {
	if base <= 0 {
		base = DefaultThreshold
	}
	t := base * sizeFactor(fileSize) * networkFactor(network) * swarmFactor(swarmSize)
	return math.Min(math.Max(t, MinThreshold), MaxThreshold)
}

func sizeFactor(size int64) float64 {
	if size <= 0 {
		return 1
	}
	f := math.Pow(2, (math.Log2(float64(size))-32)/4) // ×1 at 2^32 bytes (4 GiB)
	return math.Min(math.Max(f, 0.5), 2)
}

func networkFactor(network string) float64 {
	switch strings.ToLower(strings.TrimSpace(network)) {
	case NetworkLAN:
		return 2
	case NetworkCellular:
		return 0.5
	default:
		return 1
	}
}

func swarmFactor(hosts int) float64 {
	if hosts <= 10 {
		return 1
	}
	f := 1 - 0.25*math.Log10(float64(hosts)/10)
	return math.Max(f, 0.5)
}
