package swarm

import "fmt"

// What piece-level callers need of a torrent: how rare each piece is among the connected peers,
// which pieces BitTorrent is already fetching, claiming pieces for other means, announcing pieces
// the caller filled, and a switch that cuts a torrent off from every peer (hosts on networks that
// block P2P, and the demos and tests that play them).

// Availability counts, for each piece, the connected peers that have it.
func (t *Torrent) Availability() []int {
	avail := make([]int, t.meta.NumPieces)
	for _, pc := range t.t.PeerConns() {
		bm := pc.PeerPieces()
		if bm == nil {
			continue
		}
		it := bm.Iterator()
		for it.HasNext() {
			if i := int(it.Next()); i < len(avail) {
				avail[i]++
			}
		}
	}
	return avail
}

// InFlight reports, for each missing piece BitTorrent has started, how many of its bytes have
// arrived: fetching such a piece over HTTP as well wastes what BitTorrent already spent on it.
func (t *Torrent) InFlight() map[int]int64 {
	out := make(map[int]int64)
	for _, i := range t.Missing() {
		if ps := t.t.PieceState(i); ps.Partial && !ps.Complete {
			_, n := t.meta.PieceRange(i)
			out[i] = max(0, n-t.t.PieceBytesMissing(i))
		}
	}
	return out
}

// BlockBT refuses every BitTorrent connection of the torrent, in and out, from now on: the
// torrent then grows only through InjectPiece.
func (t *Torrent) BlockBT() {
	t.t.SetMaxEstablishedConns(0)
}

// HasPiece reports whether piece i is verified and stored.
func (t *Torrent) HasPiece(i int) bool { return t.st.rec.completion(i).Complete }

// Claim stops BitTorrent from requesting piece i while it is fetched by other means; Release
// hands it back (InjectPiece hands it back by itself when the data is refused).
func (t *Torrent) Claim(i int) { t.t.CancelPieces(i, i+1) }

// Release lets BitTorrent fetch piece i again.
func (t *Torrent) Release(i int) { t.t.DownloadPieces(i, i+1) }

// Announce tells peers that piece i is here, without hashing it again: the caller wrote its
// bytes into the data file, checked them against the piece hash and recorded the piece complete
// (Record.MarkComplete). A relay seeds each piece this way the moment it has pulled it.
func (t *Torrent) Announce(i int) error {
	if i < 0 || i >= t.meta.NumPieces {
		return fmt.Errorf("announce piece %d of %s: out of range", i, t.meta.InfoHash)
	}
	t.t.Piece(i).UpdateCompletion() // anacrolix rereads the record and sends HAVE
	return nil
}

// Record is the torrent's piece record.
func (t *Torrent) Record() *Record { return t.st.rec }
