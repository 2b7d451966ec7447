package content

import (
	"bytes"
	"testing"
)

// FuzzParse feeds arbitrary bytes as a metainfo: Parse never panics, and what it accepts can be
// indexed as its doc promises.
func FuzzParse(f *testing.F) {
	pieces := make([]byte, 40)
	mi, _, _ := Build("seed.img", 300, 256, pieces)
	f.Add(mi)
	m, _ := New("seed.img", 300, 256, pieces, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
	f.Add(m.Raw)
	f.Add([]byte("d4:infod6:lengthi0e4:name1:x12:piece lengthi16e6:pieces0:ee"))
	f.Add([]byte("not bencode"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Parse(b)
		if err != nil {
			return
		}
		if len(m.Pieces) != m.NumPieces*20 || m.PieceLen <= 0 || m.Size < 0 {
			t.Fatalf("accepted inconsistent metainfo: %+v", m)
		}
		var total int64
		for i := range m.NumPieces {
			off, n := m.PieceRange(i)
			if off != total || n <= 0 || n > m.PieceLen {
				t.Fatalf("piece %d: off %d n %d", i, off, n)
			}
			total += n
			_ = m.PieceHash(i)
		}
		if total != m.Size || !bytes.Equal(m.Raw, b) {
			t.Fatalf("pieces cover %d of %d bytes", total, m.Size)
		}
	})
}
