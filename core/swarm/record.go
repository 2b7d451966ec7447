package swarm

import (
	"bytes"
	"crypto/sha1"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/anacrolix/torrent/storage"

	"dist/core/content"
)

// The piece record is the one on-disk record of which pieces of a file are here: a small file
// next to (or apart from) the data. Relays pulling a file, clients streaming it before its
// metainfo exists, and torrents all keep it in this one format, so a file changes hands between
// them without a conversion and a restarted daemon trusts what it verified instead of hashing
// hundreds of gigabytes again.
//
// Layout: a header (magic, the info hash it belongs to — zero while the metainfo is not known —,
// and a flag saying whether piece hashes follow), one state byte per piece, then, when flagged,
// the SHA-1 of every complete piece (20 bytes each). Hashes are kept by whoever hashes pieces
// before the metainfo exists, so that Bind can later check them against it.
//
// A piece is recorded complete only after the data file has been synced, so a power cut can lose
// progress but never leave the record claiming bytes that are not on disk. Syncs are batched by a
// single flusher goroutine: marking a piece complete costs the hasher nothing.
const (
	recordMagic = "dist-pr2"
	headerLen   = len(recordMagic) + sha1.Size + 1

	pieceUnknown    byte = 0 // never checked: anacrolix hashes it when the torrent starts
	pieceComplete   byte = 1
	pieceIncomplete byte = 2
)

// Record is the persisted piece record of one file.
type Record struct {
	log  *slog.Logger
	path string
	f    *os.File
	// syncData makes the data file durable; called before complete marks are written.
	syncData func() error

	mu       sync.Mutex
	infoHash [sha1.Size]byte
	state    []byte           // one of the piece* values per piece; the truth in memory
	hashes   []byte           // SHA-1 per piece when kept, else nil
	dirty    map[int]struct{} // complete marks not yet written to f
	checked  []time.Time      // when each piece was last hashed in this process; zero: not yet
	closed   bool

	wake chan struct{} // buffered(1): there is something dirty
	stop chan struct{}
	done chan struct{} // closed when the flusher has exited
}

// OpenRecord opens (or creates) the record at path for a file of numPieces pieces, before any
// torrent exists: a relay pulling a file, or a client streaming one. infoHash is the torrent the
// record belongs to, or zero while the metainfo is not known; piece hashes are kept so that Bind
// can check the pieces against the metainfo once it comes. A record that matches (same piece
// count; same torrent, or none yet) keeps its state; anything else starts empty. syncData makes
// the data file durable.
func OpenRecord(log *slog.Logger, path string, numPieces int, infoHash [sha1.Size]byte, syncData func() error) (*Record, error) {
	return openRecord(log, path, infoHash, numPieces, pieceIncomplete, false, true, syncData)
}

// openRecord opens or creates the record at path for a torrent with the given info hash and
// piece count. init is the state every piece gets when the record is new or belongs to something
// else; an existing matching record keeps its own state unless force is set, in which case init
// replaces it (used when the caller vouches for the data or the data file was just created).
// withHashes keeps piece hashes in a new record; an existing one keeps its own layout.
func openRecord(log *slog.Logger, path string, infoHash [sha1.Size]byte, numPieces int, init byte, force, withHashes bool, syncData func() error) (*Record, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open piece record %s: %w", path, err)
	}
	r := &Record{
		log:      log,
		path:     path,
		f:        f,
		syncData: syncData,
		infoHash: infoHash,
		state:    make([]byte, numPieces),
		checked:  make([]time.Time, numPieces),
		dirty:    make(map[int]struct{}),
		wake:     make(chan struct{}, 1),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	old, err := readRecord(f, numPieces)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("read piece record %s: %w", path, err)
	}
	var zero [sha1.Size]byte
	// A record for no torrent yet matches a caller that knows none either, and one bound to a
	// torrent matches that torrent (or a caller that does not know it yet).
	valid := old != nil && (old.infoHash == infoHash || infoHash == zero) && (old.hashes != nil || !withHashes)
	if valid && !force {
		r.infoHash = old.infoHash
		r.hashes = old.hashes
		for i, b := range old.state {
			switch b {
			case pieceComplete, pieceIncomplete:
				r.state[i] = b
			}
		}
		go r.flusher()
		return r, nil
	}
	if old == nil {
		if fi, err := f.Stat(); err == nil && fi.Size() > 0 {
			log.Info("piece record does not match the file, starting a new one", "path", path)
		}
	}
	if withHashes || valid && old.hashes != nil {
		r.hashes = make([]byte, numPieces*sha1.Size)
	}
	for i := range r.state {
		r.state[i] = init
	}
	if init == pieceComplete {
		// The caller says the data is already there; make sure it is durable before the record
		// says so.
		if err := syncData(); err != nil {
			f.Close()
			return nil, fmt.Errorf("sync data for piece record %s: %w", path, err)
		}
	}
	if err := r.rewrite(); err != nil {
		f.Close()
		return nil, err
	}
	go r.flusher()
	return r, nil
}

// readRecord reads a record of numPieces pieces from f; nil when f holds none (empty, another
// format, another piece count).
func readRecord(f *os.File, numPieces int) (*Record, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	bare := int64(headerLen + numPieces)
	withHashes := bare + int64(numPieces*sha1.Size)
	if fi.Size() != bare && fi.Size() != withHashes {
		return nil, nil
	}
	buf := make([]byte, fi.Size())
	if _, err := f.ReadAt(buf, 0); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	if !bytes.Equal(buf[:len(recordMagic)], []byte(recordMagic)) {
		return nil, nil
	}
	hashed := buf[headerLen-1] == 1
	if hashed != (fi.Size() == withHashes) {
		return nil, nil
	}
	r := &Record{state: buf[headerLen : headerLen+numPieces]}
	copy(r.infoHash[:], buf[len(recordMagic):])
	if hashed {
		r.hashes = buf[headerLen+numPieces:]
	}
	return r, nil
}

// rewrite writes the whole record from memory; callers hold r.mu or own r alone.
func (r *Record) rewrite() error {
	buf := make([]byte, 0, headerLen+len(r.state)+len(r.hashes))
	buf = append(buf, recordMagic...)
	buf = append(buf, r.infoHash[:]...)
	if r.hashes != nil {
		buf = append(buf, 1)
	} else {
		buf = append(buf, 0)
	}
	buf = append(buf, r.state...)
	buf = append(buf, r.hashes...)
	if err := r.f.Truncate(int64(len(buf))); err != nil {
		return fmt.Errorf("write piece record %s: %w", r.path, err)
	}
	if _, err := r.f.WriteAt(buf, 0); err != nil {
		return fmt.Errorf("write piece record %s: %w", r.path, err)
	}
	return nil
}

// Bind ties a record kept before the metainfo existed to it: every complete piece whose recorded
// hash differs from the metainfo's is marked incomplete (it is fetched again), and the record names
// the torrent from now on. It answers how many pieces stay complete.
func (r *Record) Bind(m content.Meta) (int, error) {
	ih, err := infoHashOf(m)
	if err != nil {
		return 0, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.state) != m.NumPieces {
		return 0, fmt.Errorf("bind piece record %s: %d pieces, the metainfo has %d", r.path, len(r.state), m.NumPieces)
	}
	var zero [sha1.Size]byte
	kept := 0
	for i, s := range r.state {
		if s != pieceComplete {
			continue
		}
		if r.infoHash == ih || r.infoHash == zero && r.hashes != nil && bytes.Equal(r.hashes[i*sha1.Size:(i+1)*sha1.Size], m.PieceHash(i)) {
			kept++
			continue
		}
		r.state[i] = pieceIncomplete
		delete(r.dirty, i)
	}
	r.infoHash = ih
	if r.closed {
		return kept, fmt.Errorf("bind piece record %s: closed", r.path)
	}
	return kept, r.rewrite()
}

func infoHashOf(m content.Meta) ([sha1.Size]byte, error) {
	var ih [sha1.Size]byte
	if !m.Known() {
		return ih, errors.New("piece record: no metainfo")
	}
	return sha1.Sum(m.InfoBytes), nil
}

// Complete reports whether piece i is recorded complete.
func (r *Record) Complete(i int) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.state[i] == pieceComplete
}

// Hash answers the recorded SHA-1 of piece i, or nil when the record keeps none for it.
func (r *Record) Hash(i int) []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.hashes == nil || r.state[i] != pieceComplete {
		return nil
	}
	return bytes.Clone(r.hashes[i*sha1.Size : (i+1)*sha1.Size])
}

// Pieces is the number of pieces the record covers.
func (r *Record) Pieces() int { return len(r.state) }

func (r *Record) completion(i int) storage.Completion {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch r.state[i] {
	case pieceComplete:
		return storage.Completion{Ok: true, Complete: true}
	case pieceIncomplete:
		return storage.Completion{Ok: true, Complete: false}
	default:
		return storage.Completion{}
	}
}

// MarkComplete records piece i as verified, with its SHA-1 when the record keeps hashes. The mark
// reaches the disk after the next data sync.
func (r *Record) MarkComplete(i int, hash []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.state[i] = pieceComplete
	r.checked[i] = time.Now() // whoever marks a piece complete has just hashed it
	if r.hashes != nil && len(hash) == sha1.Size {
		copy(r.hashes[i*sha1.Size:], hash)
	}
	if r.closed {
		// A hash that finished while the torrent was dropped: anacrolix releases the storage
		// before marking. The piece is simply fetched again next time.
		return
	}
	r.dirty[i] = struct{}{}
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (r *Record) markComplete(i int) error {
	r.MarkComplete(i, nil)
	return nil
}

// MarkIncomplete records piece i as not (or no longer) verified. Unlike MarkComplete it is
// written at once: saying less than we have is always safe, saying more is not.
func (r *Record) MarkIncomplete(i int) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.state[i] = pieceIncomplete
	delete(r.dirty, i)
	if r.closed {
		return nil
	}
	if _, err := r.f.WriteAt([]byte{pieceIncomplete}, int64(headerLen+i)); err != nil {
		return fmt.Errorf("write piece record %s: %w", r.path, err)
	}
	return nil
}

// fresh reports whether piece i was hashed in this process within maxAge of now.
func (r *Record) fresh(i int, now time.Time, maxAge time.Duration) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return !r.checked[i].IsZero() && now.Sub(r.checked[i]) < maxAge
}

// touch notes that piece i was hashed again and matched.
func (r *Record) touch(i int, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.checked[i] = now
}

// counts returns the number of complete pieces and the bytes they hold.
func (r *Record) counts(pieceLen, size int64) (pieces int, bytes int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, s := range r.state {
		if s == pieceComplete {
			pieces++
			off := int64(i) * pieceLen
			bytes += min(pieceLen, size-off)
		}
	}
	return pieces, bytes
}

// missing returns the indices of pieces not known to be complete.
func (r *Record) missing() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []int
	for i, s := range r.state {
		if s != pieceComplete {
			out = append(out, i)
		}
	}
	return out
}

// FlushEvery spaces the record's data syncs: each sync commits every piece marked since the last
// one, so a power cut loses at most this much progress, and a file receiving pieces at line rate
// is synced a few times a second instead of once a piece.
const FlushEvery = 500 * time.Millisecond

func (r *Record) flusher() {
	defer close(r.done)
	for {
		select {
		case <-r.wake:
			r.flush()
		case <-r.stop:
			r.flush()
			return
		}
		t := time.NewTimer(FlushEvery)
		select {
		case <-t.C:
		case <-r.stop:
			t.Stop()
			r.flush()
			return
		}
	}
}

// flush syncs the data file, then writes every complete mark (and hash) made before the sync.
func (r *Record) flush() {
	r.mu.Lock()
	if len(r.dirty) == 0 {
		r.mu.Unlock()
		return
	}
	batch := make([]int, 0, len(r.dirty))
	for i := range r.dirty {
		batch = append(batch, i)
	}
	clear(r.dirty)
	r.mu.Unlock()

	if err := r.syncData(); err != nil {
		// Leave the marks off the disk: after a restart these pieces are fetched again.
		r.log.Warn("sync data, completion not recorded", "record", r.path, "pieces", len(batch), "err", err)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	n := len(r.state)
	for _, i := range batch {
		if r.state[i] != pieceComplete {
			continue // marked incomplete meanwhile; that write already happened
		}
		if r.hashes != nil {
			// The hash first: a complete mark never stands beside a stale hash.
			off := int64(headerLen + n + i*sha1.Size)
			if _, err := r.f.WriteAt(r.hashes[i*sha1.Size:(i+1)*sha1.Size], off); err != nil {
				r.log.Warn("write piece record", "record", r.path, "piece", i, "err", err)
				return
			}
		}
		if _, err := r.f.WriteAt([]byte{pieceComplete}, int64(headerLen+i)); err != nil {
			r.log.Warn("write piece record", "record", r.path, "piece", i, "err", err)
			return
		}
	}
}

// Flush writes every complete mark made so far, after syncing the data; for callers that need
// the record durable now (before handing the file on).
func (r *Record) Flush() {
	r.flush()
}

// Close writes what is pending and closes the file. It is safe to call twice.
func (r *Record) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	r.mu.Unlock()
	close(r.stop)
	<-r.done
	if err := r.f.Close(); err != nil {
		return fmt.Errorf("close piece record %s: %w", r.path, err)
	}
	return nil
}
