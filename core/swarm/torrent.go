package swarm

import (
	"bytes"
	"context"
	"crypto/sha1"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/metainfo"
	pp "github.com/anacrolix/torrent/peer_protocol"

	"dist/core/content"
	"dist/core/device"
)

// Spec says what to add and where its bytes live.
type Spec struct {
	Meta           content.Meta // parsed once where the metainfo entered the host
	DataPath       string       // the single file holding the content; created (sparse, right size) if missing
	CompletionPath string       // persisted piece record; "" → DataPath + ".pieces"
	Complete       bool         // caller hashed DataPath itself: mark every piece complete without rehashing
	// Record, when set, is the piece record the caller kept while it filled the file (a relay's
	// pull, a client's stream); it must be bound to Meta (Record.Bind) and the torrent takes it
	// over: Drop closes it. CompletionPath is then unused.
	Record *Record
	// Device, when set, holds the content instead of a file (devicestore.go): DataPath then only
	// names it (a URI) and CompletionPath is required.
	Device device.Device
	// ReadOnly never writes DataPath (a published file: the user's own); implies Complete.
	ReadOnly bool
	// SeedOnly takes no piece from peers: the caller brings every piece (Record.MarkComplete,
	// then Announce).
	SeedOnly bool
	// Zeroed says a Device reads as zeros wherever nothing was written (a freshly discarded
	// partition): its zero pieces are then recorded complete without writing them (local.go).
	Zeroed bool
	// Base, when set, holds an older version of the content (BaseSize bytes; the file at the
	// destination): pieces of it that still match are copied instead of fetched (local.go). The
	// torrent closes it, when it is an io.Closer, once every piece was tried, or when Add fails.
	Base     io.ReaderAt
	BaseSize int64
	// BaseInPlace says the storage itself (a device being updated) may hold an older version:
	// its pieces are hashed where they are and those that match are kept.
	BaseInPlace bool
	// PieceTime, when set, is told how long each piece from peers took: from its first chunk
	// written to its hash checked (pieces handed in with InjectPiece are not counted).
	PieceTime func(took time.Duration)
}

// Stats is a snapshot of one torrent.
type Stats struct {
	Size, Have     int64 // Have: bytes in verified pieces
	Pieces         int
	PiecesComplete int
	BytesBT        int64 // useful piece data read from peers
	BytesUp        int64 // piece data written to peers
	Peers          int   // connected peers
	PiecesBad      int64 // pieces from peers that failed their hash
	PiecesRotten   int64 // pieces of ours that failed their hash when read to be served
	BytesZero      int64 // bytes of all-zero pieces written here instead of fetched (local.go)
	BytesKept      int64 // bytes of pieces taken from the base (an older version) instead of fetched
}

// Torrent is one file being fetched or seeded.
type Torrent struct {
	n        *Node
	t        *torrent.Torrent
	st       *store
	meta     content.Meta
	recPath  string
	writeErr atomic.Pointer[error]
	dropOnce sync.Once
	dropErr  error

	// Pieces filled from this host (local.go): the filler, nil when there is none, and bytes.
	local                *localFill
	zeroBytes, keptBytes atomic.Int64
}

// ErrPieceMismatch is returned by InjectPiece for data that does not hash to the piece's hash.
var ErrPieceMismatch = errors.New("piece data does not match its hash")

// Add opens (or creates) the torrent's data file and starts fetching every missing piece from
// the peers given by AddPeers, while serving every verified one.
//
// Which pieces count as present on open: with s.Complete, all of them; otherwise those in the
// completion record when it belongs to this torrent and the data file was there already; a data
// file without a usable record is hashed piece by piece in the background.
func (n *Node) Add(ctx context.Context, s Spec) (*Torrent, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("add torrent: %w", err)
	}
	baseTaken := false
	defer func() {
		if c, ok := s.Base.(io.Closer); ok && !baseTaken {
			_ = c.Close()
		}
	}()
	meta := s.Meta
	if !meta.Known() {
		return nil, errors.New("add torrent: no metainfo")
	}
	if s.DataPath == "" {
		return nil, fmt.Errorf("add torrent %s: no data path", meta.InfoHash)
	}
	dataPath, err := filepath.Abs(s.DataPath)
	if s.Device != nil {
		dataPath, err = s.DataPath, nil
	}
	if err != nil {
		return nil, fmt.Errorf("add torrent %s: %w", meta.InfoHash, err)
	}
	recPath := s.CompletionPath
	if recPath == "" {
		recPath = dataPath + ".pieces"
	}

	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil, fmt.Errorf("add torrent %s: node closed", meta.InfoHash)
	}
	if _, dup := n.torrents[meta.InfoHash]; dup {
		return nil, fmt.Errorf("add torrent %s: already added", meta.InfoHash)
	}
	ih := metainfo.HashBytes(meta.InfoBytes)
	log := n.log.With("torrent", meta.InfoHash)
	var st *store
	switch {
	case s.Device != nil:
		st, err = openDeviceStore(log, meta, ih, s.Device, dataPath, s.CompletionPath, s.Complete)
	case s.Record != nil:
		st, err = openStoreWithRecord(meta, dataPath, s.Record)
	default:
		st, err = openStore(log, meta, ih, dataPath, recPath, s.Complete || s.ReadOnly, s.ReadOnly)
	}
	if err != nil {
		return nil, fmt.Errorf("add torrent %s: %w", meta.InfoHash, err)
	}
	st.verifyAfter = n.verify
	st.sumWrites(n.chunk)
	if s.PieceTime != nil {
		st.timing = make([]atomic.Int64, meta.NumPieces)
		st.onPiece = s.PieceTime
	}
	seedOnly := s.SeedOnly || s.ReadOnly
	var pending []int
	var zeroed int64
	if !seedOnly && !s.Complete {
		// Before anacrolix reads the record: pieces filled here are then never requested.
		pending, zeroed, err = st.planLocal(s.Zeroed || st.created, s.Base != nil || s.BaseInPlace)
		if err != nil {
			st.close()
			return nil, fmt.Errorf("add torrent %s: %w", meta.InfoHash, err)
		}
	}
	st.onRotten = func(i int) {
		// Outside the read that found it: anacrolix may hold its lock around storage reads.
		go func() {
			at := st.torrent.Load()
			if at == nil {
				return
			}
			at.Piece(i).UpdateCompletion()
			if !seedOnly {
				at.DownloadPieces(i, i+1)
			}
		}()
		log.Warn("piece failed its hash when read to be served: not served until fetched again", "piece", i)
	}
	at, isNew := n.cl.AddTorrentOpt(torrent.AddTorrentOpts{InfoHash: ih, Storage: st, ChunkSize: pp.Integer(n.chunk)})
	if !isNew {
		st.close()
		return nil, fmt.Errorf("add torrent %s: already in client", meta.InfoHash)
	}
	st.torrent.Store(at)

	// Set the info apart from AddTorrentOpt, which ignores errors from opening storage.
	if err := at.SetInfoBytes(meta.InfoBytes); err != nil {
		at.Drop()
		st.close()
		return nil, fmt.Errorf("add torrent %s: %w", meta.InfoHash, err)
	}
	// A seed-only torrent never queues pieces: cancelling them later races anacrolix's request
	// bookkeeping (v1.61 panics on the mismatch).
	if !seedOnly {
		wanted(meta.NumPieces, pending, at.DownloadPieces)
	}

	if s.Record != nil {
		recPath = s.Record.path
	}
	t := &Torrent{n: n, t: at, st: st, meta: meta, recPath: recPath}
	t.zeroBytes.Store(zeroed)
	if len(pending) > 0 {
		t.startFill(pending, &localFill{base: s.Base, baseSize: s.BaseSize, inPlace: s.BaseInPlace && s.Base == nil})
		baseTaken = true // the filler closes it
	}
	// A write that fails (a full disk) stops the torrent's downloads until ResumeWrites, instead
	// of anacrolix's default of stopping them for good without a word.
	at.SetOnWriteChunkError(func(err error) {
		t.writeErr.CompareAndSwap(nil, &err)
		at.DisallowDataDownload()
	})
	n.torrents[meta.InfoHash] = t
	return t, nil
}

// InfoHash returns the v1 info hash as lowercase hex.
func (t *Torrent) InfoHash() string { return t.meta.InfoHash }

// Meta returns the parsed metainfo.
func (t *Torrent) Meta() content.Meta { return t.meta }

// DataPath returns where the data file is now (it changes with Move).
func (t *Torrent) DataPath() string { return t.st.dataPath() }

// AddPeers hands the torrent peer addresses ("host:port"; names are resolved). The node's own
// address, duplicates and unusable entries are skipped. Connections open in the background.
func (t *Torrent) AddPeers(addrs []string) {
	seen := make(map[netip.AddrPort]struct{}, len(addrs))
	peers := make([]torrent.PeerInfo, 0, len(addrs))
	for _, a := range addrs {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		resolved, err := t.n.resolve(ctx, a)
		cancel()
		if err != nil {
			t.n.log.Debug("skip peer", "torrent", t.meta.InfoHash, "peer", a, "err", err)
			continue
		}
		for _, ap := range resolved {
			if _, dup := seen[ap]; dup || t.n.isOwn(ap) {
				continue
			}
			seen[ap] = struct{}{}
			peers = append(peers, torrent.PeerInfo{
				Addr:   torrent.StringAddr(ap.String()),
				Source: torrent.PeerSourceDirect,
				// Untrusted: a peer whose data fails its hash on its own gets banned by IP.
			})
		}
	}
	if len(peers) > 0 {
		t.t.AddPeers(peers)
	}
}

// Stats returns a snapshot of progress and traffic.
func (t *Torrent) Stats() Stats {
	ts := t.t.Stats()
	pieces, have := t.st.rec.counts(t.meta.PieceLen, t.meta.Size)
	return Stats{
		Size:           t.meta.Size,
		Have:           have,
		Pieces:         t.meta.NumPieces,
		PiecesComplete: pieces,
		BytesBT:        ts.PeerConns.BytesReadUsefulData.Int64(),
		PiecesBad:      ts.PeerConns.PiecesDirtiedBad.Int64(),
		PiecesRotten:   t.st.rotten.Load(),
		BytesZero:      t.zeroBytes.Load(),
		BytesKept:      t.keptBytes.Load(),
		BytesUp:        ts.PeerConns.BytesWrittenData.Int64(),
		Peers:          ts.ActivePeers,
	}
}

// Missing returns the indices of pieces not yet verified, in order.
func (t *Torrent) Missing() []int {
	m := t.st.rec.missing()
	if t.local == nil {
		return m
	}
	// Pieces still waiting for the local filler are not for the network.
	return slices.DeleteFunc(m, t.local.waiting)
}

// Done is closed while every piece is complete and verified; ask again after Reverify found bad
// pieces. It stays open for a torrent dropped before completion.
func (t *Torrent) Done() <-chan struct{} {
	if len(t.st.rec.missing()) == 0 {
		return t.t.Complete().On()
	}
	// The record knows of a missing piece anacrolix may not have heard of yet (one found rotten
	// a moment ago, or one the local filler is still writing): done once anacrolix says complete
	// and the record agrees. While anacrolix says complete and the record does not, it looks
	// again at its next change or after doneRecheck.
	ch := make(chan struct{})
	go func() {
		for {
			select {
			case <-t.t.Complete().On():
			case <-t.t.Closed():
				return
			}
			if len(t.st.rec.missing()) == 0 {
				close(ch)
				return
			}
			timer := time.NewTimer(doneRecheck)
			select {
			case <-t.t.Complete().Off():
			case <-timer.C:
			case <-t.t.Closed():
				timer.Stop()
				return
			}
			timer.Stop()
		}
	}()
	return ch
}

// doneRecheck is how often Done looks at the record again while anacrolix holds the torrent
// complete and the record does not yet.
const doneRecheck = 50 * time.Millisecond

// WriteFailure answers the write error that stopped the torrent's downloads (a full disk), nil
// while it writes.
func (t *Torrent) WriteFailure() error {
	if e := t.writeErr.Load(); e != nil {
		return *e
	}
	return nil
}

// ResumeWrites lets the torrent download again after a write failure (space was freed).
func (t *Torrent) ResumeWrites() {
	if t.writeErr.Swap(nil) != nil {
		t.t.AllowDataDownload()
	}
}

// ReadAt reads the torrent's content wherever it is stored now (the partial file, the moved one,
// a device).
// Pieces are checked as for peers (VerifyAfter).
func (t *Torrent) ReadAt(b []byte, off int64) (int, error) { return t.st.servedAt(b, off) }

// Reverify hashes every complete piece again from storage and hands those that no longer match
// back to BitTorrent, which fetches them again. It answers the pieces found bad. A copy whose
// whole-file checksum failed calls it to find what rotted.
func (t *Torrent) Reverify(ctx context.Context) ([]int, error) {
	var bad []int
	buf := make([]byte, t.meta.PieceLen)
	for i := range t.meta.NumPieces {
		if err := ctx.Err(); err != nil {
			return bad, err
		}
		if !t.st.rec.Complete(i) {
			continue
		}
		off, n := t.meta.PieceRange(i)
		b := buf[:n]
		if _, err := t.st.readAt(b, off); err != nil && !errors.Is(err, io.EOF) {
			return bad, fmt.Errorf("reverify piece %d of %s: %w", i, t.meta.InfoHash, err)
		}
		if sum := sha1.Sum(b); bytes.Equal(sum[:], t.meta.PieceHash(i)) {
			continue
		}
		bad = append(bad, i)
		if err := t.st.rec.MarkIncomplete(i); err != nil {
			return bad, err
		}
		t.t.Piece(i).UpdateCompletion()
		t.t.DownloadPieces(i, i+1)
	}
	return bad, nil
}

// InjectPiece stores piece i fetched by other means (HTTP) and announces it to peers. The data is
// checked against the piece hash first, so nothing unverified ever reaches the file; then
// anacrolix verifies it again from disk, as it does for data from peers.
func (t *Torrent) InjectPiece(ctx context.Context, i int, data []byte) error {
	if i < 0 || i >= t.meta.NumPieces {
		return fmt.Errorf("inject piece %d of %s: out of range", i, t.meta.InfoHash)
	}
	if _, n := t.meta.PieceRange(i); int64(len(data)) != n {
		return fmt.Errorf("inject piece %d of %s: %d bytes, want %d", i, t.meta.InfoHash, len(data), n)
	}
	sum := sha1.Sum(data)
	if !bytes.Equal(sum[:], t.meta.PieceHash(i)) {
		return fmt.Errorf("inject piece %d of %s: %w", i, t.meta.InfoHash, ErrPieceMismatch)
	}
	if t.st.rec.completion(i).Complete {
		return nil
	}
	// Stop asking peers for it while we write, or their chunks would race ours.
	t.t.CancelPieces(i, i+1)
	t.st.injected(i) // its time is the caller's, not a peer's
	p := t.t.Piece(i)
	var err error
	if t.st.sums != nil {
		// With the sum checked above: anacrolix's check below then does not hash it again.
		_, err = t.st.writeWhole(i, data, sum)
	} else {
		_, err = p.Storage().WriteAt(data, 0)
	}
	if err != nil {
		t.writeErr.CompareAndSwap(nil, &err)
		t.t.DownloadPieces(i, i+1)
		return fmt.Errorf("inject piece %d of %s: %w", i, t.meta.InfoHash, err)
	}
	// VerifyData returns nil even when the hash fails, and returns as soon as the hash is counted,
	// before anacrolix has marked the piece (it drops its lock to call the storage). So follow the
	// piece state until marking is over, then read the verdict.
	changes := t.t.SubscribePieceStateChanges()
	defer changes.Close()
	err = p.VerifyDataContext(ctx)
	for err == nil {
		ps := t.t.PieceState(i)
		if ps.Complete {
			break
		}
		if !ps.Hashing && !ps.QueuedForHash && !ps.Marking {
			err = ErrPieceMismatch
			break
		}
		select {
		case <-changes.Values:
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	if err != nil {
		t.t.DownloadPieces(i, i+1)
		return fmt.Errorf("inject piece %d of %s: %w", i, t.meta.InfoHash, err)
	}
	return nil
}

// Move puts the finished file at newPath atomically and goes on seeding from there. On one
// filesystem it is a rename; across filesystems the file is copied to a temporary file in
// newPath's directory, synced and renamed into place, then the original is removed. The
// completion record stays where it is.
func (t *Torrent) Move(newPath string) error {
	select {
	case <-t.Done():
	default:
		return fmt.Errorf("move torrent %s: not complete", t.meta.InfoHash)
	}
	if t.st.device {
		return fmt.Errorf("move torrent %s: %w", t.meta.InfoHash, errDeviceMove)
	}
	dst, err := filepath.Abs(newPath)
	if err != nil {
		return fmt.Errorf("move torrent %s: %w", t.meta.InfoHash, err)
	}
	if err := t.st.move(dst); err != nil {
		return fmt.Errorf("move torrent %s: %w", t.meta.InfoHash, err)
	}
	return nil
}

// Drop stops the torrent and closes its files. With removeData it also deletes the data file
// (wherever Move put it) and the completion record, even when an earlier Drop (or Node.Close)
// already stopped the torrent.
func (t *Torrent) Drop(removeData bool) error {
	t.dropOnce.Do(func() {
		t.local.halt() // before the store closes under it
		t.t.Drop()     // waits for the storage to close, so the files are free below
		t.n.mu.Lock()
		if t.n.torrents[t.meta.InfoHash] == t {
			delete(t.n.torrents, t.meta.InfoHash)
		}
		t.n.mu.Unlock()
		if err := t.st.close(); err != nil {
			t.dropErr = fmt.Errorf("drop torrent %s: %w", t.meta.InfoHash, err)
		}
	})
	err := t.dropErr
	if removeData {
		paths := []string{t.st.dataPath(), t.recPath}
		if t.st.device {
			paths = paths[1:] // a partition is never removed, only its record
		}
		for _, p := range paths {
			if rerr := os.Remove(p); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
				err = errors.Join(err, fmt.Errorf("drop torrent %s: %w", t.meta.InfoHash, rerr))
			}
		}
	}
	return err
}
