package early

import (
	"encoding/binary"
	"testing"
)

// A relay's hashes answer is read by every client: whatever bytes come, parsing returns an error
// or entries with indexes inside the file, never a panic.
func FuzzParseHashes(f *testing.F) {
	f.Add([]byte{}, 4)
	f.Add(binary.BigEndian.AppendUint32(nil, 3), 4)
	f.Add(append(binary.BigEndian.AppendUint32(nil, 1), make([]byte, 20)...), 4)
	f.Add(append(binary.BigEndian.AppendUint32(nil, 9), make([]byte, 20)...), 4)
	f.Fuzz(func(t *testing.T, body []byte, n int) {
		if n < 0 || n > 1<<20 {
			return
		}
		idx, hs, err := parseHashes(body, n)
		if err != nil {
			return
		}
		if len(idx) != len(hs) || len(idx)*entryLen != len(body) {
			t.Fatalf("%d entries and %d hashes from %d bytes", len(idx), len(hs), len(body))
		}
		for _, i := range idx {
			if i < 0 || int(i) >= n {
				t.Fatalf("index %d outside %d pieces", i, n)
			}
		}
	})
}
