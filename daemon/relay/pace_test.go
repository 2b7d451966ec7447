package relay

import (
	"bytes"
	"context"
	"errors"
	"testing"
)

// TestPulledFilePaces checks that every byte the relay serves over HTTP is counted against the
// upload budget before it is read, and that a refused budget fails the read instead of sending.
func TestPulledFilePaces(t *testing.T) {
	t.Parallel()
	data := bytes.Repeat([]byte{7}, 1<<20)
	for _, tc := range []struct {
		name    string
		refuse  error
		wantN   int
		wantErr bool
	}{
		{"budget granted", nil, 64 << 10, false},
		{"budget refused", errors.New("deadline"), 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var paced int
			pf := pulledFile{f: bytes.NewReader(data), pace: func(_ context.Context, n int) error {
				paced += n
				return tc.refuse
			}}
			n, err := pf.ReadAt(make([]byte, 64<<10), 4096)
			if n != tc.wantN || (err != nil) != tc.wantErr {
				t.Fatalf("ReadAt = %d, %v; want %d bytes, error %v", n, err, tc.wantN, tc.wantErr)
			}
			if paced != 64<<10 {
				t.Errorf("paced %d bytes, want the %d asked for", paced, 64<<10)
			}
		})
	}
	// Without a budget (no node) reads go straight through.
	if n, err := (pulledFile{f: bytes.NewReader(data)}).ReadAt(make([]byte, 10), 0); n != 10 || err != nil {
		t.Fatalf("unpaced ReadAt = %d, %v", n, err)
	}
}
