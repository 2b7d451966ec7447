package cli

import (
	"strings"
	"testing"
)

// --piece-size takes a power of two from 4 MiB to 64 MiB, or nothing (chosen from the size).
func TestPushPieceSize(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		size ByteSize
		ok   bool
	}{
		{0, true}, {4 << 20, true}, {16 << 20, true}, {64 << 20, true},
		{2 << 20, false}, {128 << 20, false}, {5 << 20, false}, {-1, false},
	} {
		err := (&PushCmd{To: []string{"all"}, PieceSize: tc.size}).Validate()
		if (err == nil) != tc.ok {
			t.Errorf("--piece-size %d: err %v, want ok %v", tc.size, err, tc.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "--piece-size") {
			t.Errorf("--piece-size %d: error %q does not name the flag", tc.size, err)
		}
	}
}
