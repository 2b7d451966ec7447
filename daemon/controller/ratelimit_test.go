package controller

import (
	"strconv"
	"testing"
	"time"
)

func TestHostLimiter(t *testing.T) {
	t.Parallel()
	t0 := time.Unix(1_700_000_000, 0)
	type step struct {
		key    string
		at     time.Duration // after t0
		n      int           // requests at once
		admit  int           // how many of them pass
		waitGE time.Duration // Retry wait of the last refused one, at least
	}
	tests := []struct {
		name        string
		rate, burst float64
		steps       []step
	}{
		{"burst then refused", 10, 5, []step{{"a", 0, 7, 5, 100 * time.Millisecond}}},
		{"refills at the rate", 10, 5, []step{{"a", 0, 5, 5, 0}, {"a", 300 * time.Millisecond, 5, 3, 0}}},
		{"never above the burst", 10, 5, []step{{"a", 0, 1, 1, 0}, {"a", time.Hour, 9, 5, 0}}},
		{"hosts apart", 1, 2, []step{{"a", 0, 3, 2, time.Second}, {"b", 0, 2, 2, 0}, {"a", 0, 1, 0, time.Second}}},
		{"clock going back adds nothing", 10, 2, []step{{"a", time.Second, 2, 2, 0}, {"a", 0, 1, 0, 0}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l := newHostLimiter(tt.rate, tt.burst)
			for i, s := range tt.steps {
				admitted, wait := 0, time.Duration(0)
				for range s.n {
					ok, w := l.allow(s.key, t0.Add(s.at))
					if ok {
						admitted++
					} else {
						wait = w
					}
				}
				if admitted != s.admit {
					t.Errorf("step %d: %d of %d admitted, want %d", i, admitted, s.n, s.admit)
				}
				if admitted < s.n && (wait <= 0 || wait < s.waitGE) {
					t.Errorf("step %d: refused with wait %v, want > 0 and >= %v", i, wait, s.waitGE)
				}
			}
		})
	}
}

func TestHostLimiterForgetsFullBuckets(t *testing.T) {
	t.Parallel()
	l := newHostLimiter(100, 10)
	t0 := time.Unix(1_700_000_000, 0)
	for i := range 4 * hostBucketsSweep {
		l.allow("h"+strconv.Itoa(i), t0)
	}
	if n := l.size(); n != 4*hostBucketsSweep {
		t.Fatalf("%d buckets, want %d", n, 4*hostBucketsSweep)
	}
	// A second later every bucket is full again: the next new host of each shard sweeps it.
	seen := map[*limiterShard]bool{}
	for i := 0; len(seen) < limiterShards; i++ {
		k := "new" + strconv.Itoa(i)
		if sh := l.shard(k); !seen[sh] {
			seen[sh] = true
			l.allow(k, t0.Add(time.Second))
		}
	}
	if n := l.size(); n != limiterShards {
		t.Fatalf("%d buckets after the sweeps, want %d (the new ones)", n, limiterShards)
	}
}

func TestAddrAllowed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, addr, host, remote string
		kept                     []string
		want                     bool
	}{
		{"the connection's own IP", "10.0.0.5", "c1", "10.0.0.5", nil, true},
		{"v4-mapped connection", "10.0.0.5", "c1", "::ffff:10.0.0.5", nil, true},
		{"another IP", "10.0.0.9", "c1", "10.0.0.5", nil, false},
		{"loopback caller: same machine", "10.0.0.9", "c1", "127.0.0.1", nil, true},
		{"own name", "c1", "c1", "10.0.0.5", nil, true},
		{"under own name", "c1.example.net", "c1", "10.0.0.5", nil, true},
		{"another host's name", "c2.example.net", "c1", "10.0.0.5", nil, false},
		{"a name ending in the host's", "evil-c1", "c1", "10.0.0.5", nil, false},
		{"kept from before", "192.168.1.1", "c1", "10.0.0.5", []string{"", "192.168.1.1"}, true},
		{"empty kept matches nothing", "", "c1", "10.0.0.5", []string{""}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := addrAllowed(tt.addr, tt.host, tt.remote, tt.kept); got != tt.want {
				t.Errorf("addrAllowed(%q, %q, %q, %v) = %v, want %v", tt.addr, tt.host, tt.remote, tt.kept, got, tt.want)
			}
		})
	}
}
