package swarm

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"

	"github.com/anacrolix/torrent/storage"
)

// The completion record is a small file next to (or apart from) the data: a header naming the
// torrent, then one byte per piece. It lets a restarted daemon trust what it already verified
// instead of hashing hundreds of gigabytes again.
//
// A piece is recorded complete only after the data file has been synced, so a power cut can lose
// progress but never leave the record claiming bytes that are not on disk. Syncs are batched by a
// single flusher goroutine: marking a piece complete costs the hasher nothing.
const (
	recordMagic = "dist-pc1"
	headerLen   = len(recordMagic) + 20

	pieceUnknown    byte = 0 // never checked: anacrolix hashes it when the torrent starts
	pieceComplete   byte = 1
	pieceIncomplete byte = 2
)

type record struct {
	log  *slog.Logger
	path string
	f    *os.File
	// syncData makes the data file durable; called before complete marks are written.
	syncData func() error

	mu     sync.Mutex
	state  []byte           // one of the piece* values per piece; the truth in memory
	dirty  map[int]struct{} // complete marks not yet written to f
	closed bool

	wake chan struct{} // buffered(1): there is something dirty
	stop chan struct{}
	done chan struct{} // closed when the flusher has exited
}

// openRecord opens or creates the record at path for a torrent with the given info hash and
// piece count. init is the state every piece gets when the record is new or belongs to something
// else; an existing matching record keeps its own state unless force is set, in which case init
// replaces it (used when the caller vouches for the data or the data file was just created).
func openRecord(log *slog.Logger, path string, infoHash [20]byte, numPieces int, init byte, force bool, syncData func() error) (*record, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open completion record %s: %w", path, err)
	}
	r := &record{
		log:      log,
		path:     path,
		f:        f,
		syncData: syncData,
		state:    make([]byte, numPieces),
		dirty:    make(map[int]struct{}),
		wake:     make(chan struct{}, 1),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	header := append([]byte(recordMagic), infoHash[:]...)
	buf := make([]byte, headerLen+numPieces)
	n, err := f.ReadAt(buf, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		f.Close()
		return nil, fmt.Errorf("read completion record %s: %w", path, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("stat completion record %s: %w", path, err)
	}
	valid := n == len(buf) && fi.Size() == int64(len(buf)) && bytes.Equal(buf[:headerLen], header)
	if valid && !force {
		for i, b := range buf[headerLen:] {
			switch b {
			case pieceComplete, pieceIncomplete:
				r.state[i] = b
			}
		}
	} else {
		if n > 0 && !valid {
			log.Info("completion record does not match torrent, starting a new one", "path", path)
		}
		for i := range r.state {
			r.state[i] = init
		}
		if init == pieceComplete {
			// The caller says the data is already there; make sure it is durable before the
			// record says so.
			if err := syncData(); err != nil {
				f.Close()
				return nil, fmt.Errorf("sync data for completion record %s: %w", path, err)
			}
		}
		copy(buf, header)
		copy(buf[headerLen:], r.state)
		if err := f.Truncate(int64(len(buf))); err != nil {
			f.Close()
			return nil, fmt.Errorf("write completion record %s: %w", path, err)
		}
		if _, err := f.WriteAt(buf, 0); err != nil {
			f.Close()
			return nil, fmt.Errorf("write completion record %s: %w", path, err)
		}
	}
	go r.flusher()
	return r, nil
}

func (r *record) completion(i int) storage.Completion {
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

// markComplete records piece i as verified. The byte reaches the disk after the next data sync.
func (r *record) markComplete(i int) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.state[i] = pieceComplete
	if r.closed {
		// A hash that finished while the torrent was dropped: anacrolix releases the storage
		// before marking. The piece is simply fetched again next time.
		return nil
	}
	r.dirty[i] = struct{}{}
	select {
	case r.wake <- struct{}{}:
	default:
	}
	return nil
}

// markIncomplete records piece i as not (or no longer) verified. Unlike markComplete it is
// written at once: saying less than we have is always safe, saying more is not.
func (r *record) markIncomplete(i int) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.state[i] = pieceIncomplete
	delete(r.dirty, i)
	if r.closed {
		return nil
	}
	if _, err := r.f.WriteAt([]byte{pieceIncomplete}, int64(headerLen+i)); err != nil {
		return fmt.Errorf("write completion record %s: %w", r.path, err)
	}
	return nil
}

// counts returns the number of complete pieces and the bytes they hold.
func (r *record) counts(pieceLen, size int64) (pieces int, bytes int64) {
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
func (r *record) missing() []int {
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

func (r *record) flusher() {
	defer close(r.done)
	for {
		select {
		case <-r.wake:
			r.flush()
		case <-r.stop:
			r.flush()
			return
		}
	}
}

// flush syncs the data file, then writes every complete mark made before the sync.
func (r *record) flush() {
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
	for _, i := range batch {
		if r.state[i] != pieceComplete {
			continue // marked incomplete meanwhile; that write already happened
		}
		if _, err := r.f.WriteAt([]byte{pieceComplete}, int64(headerLen+i)); err != nil {
			r.log.Warn("write completion record", "record", r.path, "piece", i, "err", err)
			return
		}
	}
}

// close writes what is pending and closes the file. It is safe to call twice.
func (r *record) close() error {
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
		return fmt.Errorf("close completion record %s: %w", r.path, err)
	}
	return nil
}
