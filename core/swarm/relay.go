package swarm

import (
	"fmt"
	"log/slog"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
)

// A relay fills its data file itself (parallel HTTP Range pulls) and checks every piece against
// the metainfo as it lands. These calls let it seed each piece the moment it is verified, while the
// rest of the file is still on its way.

// WriteCompletion writes the completion record at path for the torrent mi, saying exactly which
// pieces are complete (complete(i)) and that every other piece is not. Adding the torrent over its
// data file with this record then trusts it: nothing is hashed again, and pieces not yet there are
// never mistaken for data. The caller must have synced the data of the complete pieces.
func WriteCompletion(mi []byte, path string, complete func(piece int) bool) error {
	var m metainfo.MetaInfo
	if err := bencode.Unmarshal(mi, &m); err != nil {
		return fmt.Errorf("completion record %s: %w", path, err)
	}
	info, err := m.UnmarshalInfo()
	if err != nil {
		return fmt.Errorf("completion record %s: %w", path, err)
	}
	noSync := func() error { return nil } // the caller synced the data
	r, err := openRecord(slog.Default(), path, m.HashInfoBytes(), info.NumPieces(), pieceIncomplete, true, noSync)
	if err != nil {
		return err
	}
	for i := range info.NumPieces() {
		if complete(i) {
			_ = r.markComplete(i) // only fails on a closed record
		}
	}
	return r.close() // writes the marks
}

// MarkVerified records piece i as complete and announces it to peers, without hashing it again:
// the caller wrote its bytes into the data file and checked them against the piece hash.
func (t *Torrent) MarkVerified(i int) error {
	if i < 0 || i >= t.meta.NumPieces {
		return fmt.Errorf("mark piece %d of %s: out of range", i, t.meta.InfoHash)
	}
	if err := t.st.rec.markComplete(i); err != nil {
		return fmt.Errorf("mark piece %d of %s: %w", i, t.meta.InfoHash, err)
	}
	t.t.Piece(i).UpdateCompletion() // anacrolix rereads the record and sends HAVE
	return nil
}
