package assist

import (
	"slices"
	"testing"
	"time"
)

func TestPick(t *testing.T) {
	t.Parallel()
	const size = 100
	tests := []struct {
		name  string
		cands []Candidate
		n     int
		want  []int
	}{
		{"rarest first", []Candidate{{Piece: 0, Size: size, Avail: 3}, {Piece: 1, Size: size, Avail: 1}, {Piece: 2, Size: size, Avail: 2}}, 2, []int{1, 2}},
		{"untouched before started", []Candidate{{Piece: 0, Size: size, Got: 10, Avail: 0, Live: true}, {Piece: 1, Size: size, Avail: 5}}, 2, []int{1, 0}},
		{"half fetched and live is left to bittorrent", []Candidate{{Piece: 0, Size: size, Got: 60, Avail: 1, Live: true}, {Piece: 1, Size: size, Avail: 1}}, 2, []int{1}},
		// The case that hung: BitTorrent half-fetched a piece from a peer that is gone; HTTP takes it.
		{"half fetched and stalled is taken", []Candidate{{Piece: 0, Size: size, Got: 60, Avail: 0, Live: false}}, 1, []int{0}},
		{"ties by random key", []Candidate{{Piece: 0, Size: size, Tie: 9}, {Piece: 1, Size: size, Tie: 3}}, 1, []int{1}},
		{"none wanted", []Candidate{{Piece: 0, Size: size}}, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Pick(slices.Clone(tt.cands), tt.n)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("Pick = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestProgressLive(t *testing.T) {
	t.Parallel()
	p := newProgress(10 * time.Second)
	t0 := time.Unix(1000, 0)
	if !p.live(3, 50, t0) {
		t.Fatal("a piece seen for the first time is live")
	}
	if !p.live(3, 50, t0.Add(9*time.Second)) {
		t.Fatal("no growth for 9 s of a 10 s window: still live")
	}
	if p.live(3, 50, t0.Add(11*time.Second)) {
		t.Fatal("no growth for 11 s: stalled")
	}
	if !p.live(3, 70, t0.Add(12*time.Second)) {
		t.Fatal("grew again: live")
	}
}
