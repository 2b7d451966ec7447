package plugins

import (
	"encoding/binary"
	"slices"
	"testing"
)

// FuzzNegotiate: whatever API versions a plugin announces in its handshake, the daemon either
// agrees on one both speak or refuses; it never panics.
func FuzzNegotiate(f *testing.F) {
	f.Add([]byte{0, 0, 0, 1})
	f.Add([]byte{0, 0, 0, 7, 0, 0, 0, 1})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		var theirs []uint32
		for len(b) >= 4 {
			theirs = append(theirs, binary.BigEndian.Uint32(b))
			b = b[4:]
		}
		v, err := Negotiate(APIVersions, theirs)
		if err == nil && (!slices.Contains(APIVersions, v) || !slices.Contains(theirs, v)) {
			t.Fatalf("agreed on %d, ours %v theirs %v", v, APIVersions, theirs)
		}
	})
}
