package swarm

import (
	"bytes"
	"context"
	"crypto/sha1"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	g "github.com/anacrolix/generics"
	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/storage"

	"dist/core/content"
)

// store is the storage of one torrent: a single data file read and written with pread/pwrite at
// piece offsets (never mmap: another process touching an mmapped image would SIGBUS the daemon),
// plus its completion record.
type store struct {
	meta content.Meta
	rec  *Record

	// mu guards f and path, which Move swaps; reads and writes hold it shared.
	mu       sync.RWMutex
	f        dataFile // *os.File, or a Device (device.go)
	path     string
	device   bool // f is a Device: never moved or removed
	readOnly bool // f is never written: a rotten piece is refused, not fetched again
	created  bool // f was created by this open: all holes, it reads as zeros (local.go)

	// verifyAfter is how long a piece hashed in this process is served without hashing it again;
	// 0 never checks. onRotten hears of a piece that failed (the torrent hands it back to
	// BitTorrent); rotten counts them.
	verifyAfter time.Duration
	onRotten    func(i int)
	rotten      atomic.Int64
	torrent     atomic.Pointer[torrent.Torrent]

	// timing holds, per piece, when its first chunk from a peer was written (unix ns; 0: none yet,
	// -1: handed in by InjectPiece); onPiece hears the time to its hash. Nil: not timed.
	timing  []atomic.Int64
	onPiece func(time.Duration)

	// sums holds, per piece, the SHA-1 of what the last write of that piece put there when the
	// write covered the whole piece, taken from the write's own buffer: anacrolix's check of the
	// piece then reads nothing back (wholePiece.SelfHash). Nil: every check reads the piece back.
	sums []pieceSum

	moveMu    sync.Mutex // one Move at a time
	closeOnce sync.Once
	closeErr  error
}

// openStore opens (or creates, sparse and sized) the data file and its completion record.
func openStore(log *slog.Logger, m content.Meta, infoHash [20]byte, dataPath, recordPath string, complete, readOnly bool) (*store, error) {
	s := &store{meta: m, path: dataPath, readOnly: readOnly}
	for _, dir := range []string{filepath.Dir(dataPath), filepath.Dir(recordPath)} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("create directory %s: %w", dir, err)
		}
	}
	created := false
	// A published file is only ever read: open it read-only so that publishing a file the daemon
	// may not write (a user's build, a read-only image) works, and a piece found rotten in it is
	// refused but never written back. Any other complete file may be repaired in place.
	flag := os.O_RDWR
	if readOnly {
		flag = os.O_RDONLY
	}
	f, err := os.OpenFile(dataPath, flag, 0)
	if errors.Is(err, fs.ErrNotExist) {
		if complete {
			return nil, fmt.Errorf("open data %s: marked complete but missing: %w", dataPath, err)
		}
		f, err = os.OpenFile(dataPath, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
		created = true
	}
	if err != nil {
		return nil, fmt.Errorf("open data %s: %w", dataPath, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("stat data %s: %w", dataPath, err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("open data %s: not a regular file", dataPath)
	}
	resized := fi.Size() != m.Size
	if resized {
		if complete {
			f.Close()
			return nil, fmt.Errorf("open data %s: marked complete but holds %d bytes, want %d", dataPath, fi.Size(), m.Size)
		}
		// Truncate extends sparsely: a new file costs no disk until pieces arrive.
		if err := f.Truncate(m.Size); err != nil {
			f.Close()
			return nil, fmt.Errorf("size data %s: %w", dataPath, err)
		}
	}
	s.f, s.created = f, created

	// What the record may be trusted with: the caller's word, a fresh file's emptiness, or (for a
	// file that was there before us, with no record of its own) nothing until hashed.
	init, force := pieceUnknown, false
	switch {
	case complete:
		init, force = pieceComplete, true
	case created:
		init, force = pieceIncomplete, true
	case resized:
		init, force = pieceUnknown, true
	}
	s.rec, err = openRecord(log, recordPath, infoHash, m.NumPieces, init, force, false, s.sync)
	if err != nil {
		f.Close()
		if created {
			os.Remove(dataPath)
		}
		return nil, err
	}
	return s, nil
}

// openStoreWithRecord opens the data file a caller filled itself, with the piece record it kept
// while doing so (bound to m); the store takes the record over.
func openStoreWithRecord(m content.Meta, dataPath string, rec *Record) (*store, error) {
	if rec.Pieces() != m.NumPieces {
		return nil, fmt.Errorf("open data %s: piece record covers %d pieces, the metainfo %d", dataPath, rec.Pieces(), m.NumPieces)
	}
	f, err := os.OpenFile(dataPath, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("open data %s: %w", dataPath, err)
	}
	fi, err := f.Stat()
	if err != nil || fi.Size() != m.Size {
		f.Close()
		if err == nil {
			err = fmt.Errorf("holds %d bytes, want %d", fi.Size(), m.Size)
		}
		return nil, fmt.Errorf("open data %s: %w", dataPath, err)
	}
	return &store{meta: m, path: dataPath, f: f, rec: rec}, nil
}

func (s *store) sync() error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.f.Sync()
}

func (s *store) readAt(b []byte, off int64) (int, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.f.ReadAt(b, off)
}

func (s *store) writeAt(b []byte, off int64) (int, error) {
	if s.sums != nil {
		return s.writeSummed(b, off)
	}
	return s.pwrite(b, off)
}

func (s *store) pwrite(b []byte, off int64) (int, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.f.WriteAt(b, off)
}

func (s *store) dataPath() string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.path
}

// close flushes the record and closes both files; later calls return the first result.
func (s *store) close() error {
	s.closeOnce.Do(func() {
		err := s.rec.Close()
		s.mu.Lock()
		defer s.mu.Unlock()
		if cerr := s.f.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("close data %s: %w", s.path, cerr))
		}
		s.closeErr = err
	})
	return s.closeErr
}

// OpenTorrent hands the already opened store to anacrolix. Opening happens in Node.Add, outside
// the client lock anacrolix holds here, and so that a bad path fails Add with a clear error.
func (s *store) OpenTorrent(_ context.Context, info *metainfo.Info, _ metainfo.Hash) (storage.TorrentImpl, error) {
	if info.TotalLength() != s.meta.Size || info.PieceLength != s.meta.PieceLen {
		return storage.TorrentImpl{}, fmt.Errorf("open storage %s: info does not match metainfo", s.meta.InfoHash)
	}
	return storage.TorrentImpl{
		PieceWithHash: func(p metainfo.Piece, _ g.Option[[]byte]) storage.PieceImpl {
			pc := piece{s: s, i: p.Index(), off: p.Offset(), n: p.Length()}
			if s.sums != nil {
				return wholePiece{pc}
			}
			return pc
		},
		NewReader: func() storage.TorrentReader { return storeReader{s} },
		// The files stay open until Torrent.Drop closes them after anacrolix has let go: a peer
		// request still being served during teardown then reads data instead of an error, which
		// v1.61 turns into a panic.
		Close: func() error { return nil },
	}, nil
}

// piece is one piece's window on the store.
type piece struct {
	s      *store
	i      int
	off, n int64
}

func (p piece) ReadAt(b []byte, off int64) (int, error) {
	if off >= p.n {
		return 0, io.EOF
	}
	b = b[:min(int64(len(b)), p.n-off)]
	n, err := p.s.readAt(b, p.off+off)
	if n == len(b) && errors.Is(err, io.EOF) {
		err = nil
	}
	return n, err
}

// WriteTo streams the piece to w; anacrolix reads pieces of several chunks back through it to
// hash them (SHA-1 and the smart-ban check together). Without it anacrolix copies 32 KiB at a
// time through a fresh buffer per piece, a pread each, and the smart-ban check glues those steps
// back into whole chunks before hashing them. Here a pooled buffer, a multiple of every chunk
// size, is read with one pread per MiB and handed on whole, so the check hashes it in place.
func (p piece) WriteTo(w io.Writer) (int64, error) {
	bp := checkBufs.Get().(*[]byte)
	defer checkBufs.Put(bp)
	var done int64
	for done < p.n {
		b := (*bp)[:min(int64(len(*bp)), p.n-done)]
		n, err := p.s.readAt(b, p.off+done)
		if n < len(b) {
			// What io.CopyN answers for a short source: anacrolix then blames no peer.
			if err == nil || errors.Is(err, io.EOF) {
				err = io.EOF
			}
		} else {
			err = nil
		}
		if n > 0 {
			m, werr := w.Write(b[:n])
			done += int64(m)
			if werr != nil {
				return done, werr
			}
		}
		if err != nil {
			return done, err
		}
	}
	return done, nil
}

func (p piece) WriteAt(b []byte, off int64) (int, error) {
	if off+int64(len(b)) > p.n {
		return 0, fmt.Errorf("write piece %d: %d bytes at %d overflow %d", p.i, len(b), off, p.n)
	}
	if t := p.s.timing; t != nil && t[p.i].Load() == 0 {
		t[p.i].CompareAndSwap(0, time.Now().UnixNano())
	}
	return p.s.writeAt(b, p.off+off)
}

func (p piece) MarkComplete() error {
	if t := p.s.timing; t != nil {
		if at := t[p.i].Swap(0); at > 0 {
			p.s.onPiece(time.Duration(time.Now().UnixNano() - at))
		}
	}
	return p.s.rec.markComplete(p.i)
}

// injected marks piece i as handed in whole by its caller: its time is not a peer's.
func (s *store) injected(i int) {
	if s.timing != nil {
		s.timing[i].Store(-1)
	}
}
func (p piece) MarkNotComplete() error         { return p.s.rec.MarkIncomplete(p.i) }
func (p piece) Completion() storage.Completion { return p.s.rec.completion(p.i) }

// storeReader reads the whole torrent, across pieces, in one call: what anacrolix sends to peers.
// Pieces it serves are checked first (servedAt).
type storeReader struct{ s *store }

func (r storeReader) ReadAt(b []byte, off int64) (int, error) { return r.s.servedAt(b, off) }
func (r storeReader) Close() error                            { return nil }

// ErrPieceRotten is a read of a piece that no longer matches its hash: it is not served, and the
// torrent fetches it again.
var ErrPieceRotten = errors.New("piece no longer matches its hash")

// servedAt reads bytes to serve to a peer or over HTTP. A complete piece not hashed in this
// process for VerifyAfter is hashed again first, so a seeder whose disk rotted notices instead of
// serving bad data for ever: the piece is marked incomplete (fetched again when the torrent wants
// it) and the read fails.
func (s *store) servedAt(b []byte, off int64) (int, error) {
	if len(b) > 0 && s.verifyAfter > 0 {
		now := time.Now()
		last := min(off+int64(len(b)), s.meta.Size) - 1
		for i := int(off / s.meta.PieceLen); i >= 0 && int64(i)*s.meta.PieceLen <= last && i < s.meta.NumPieces; i++ {
			if !s.rec.Complete(i) || s.rec.fresh(i, now, s.verifyAfter) {
				continue
			}
			if err := s.check(i, now); err != nil {
				return 0, err
			}
		}
	}
	return s.readAt(b, off)
}

// check hashes complete piece i from storage: a match renews it, a mismatch marks it incomplete.
func (s *store) check(i int, now time.Time) error {
	// Streamed through a small pooled buffer: a 64 MiB piece checked for each of many peers
	// must not cost 64 MiB of memory each time.
	off := int64(i) * s.meta.PieceLen
	bp := checkBufs.Get().(*[]byte)
	defer checkBufs.Put(bp)
	h := sha1.New()
	if _, err := io.CopyBuffer(h, io.NewSectionReader(readerAtFunc(s.readAt), off, min(s.meta.PieceLen, s.meta.Size-off)), *bp); err != nil {
		return fmt.Errorf("check piece %d of %s: %w", i, s.meta.InfoHash, err)
	}
	if sum := h.Sum(nil); bytes.Equal(sum, s.meta.PieceHash(i)) {
		s.rec.touch(i, now)
		return nil
	}
	s.rotten.Add(1)
	if err := s.rec.MarkIncomplete(i); err != nil {
		return err
	}
	if s.onRotten != nil {
		s.onRotten(i)
	}
	return fmt.Errorf("piece %d of %s: %w", i, s.meta.InfoHash, ErrPieceRotten)
}

// checkBufs holds the read buffers of check.
var checkBufs = sync.Pool{New: func() any { b := make([]byte, 1<<20); return &b }}

type readerAtFunc func([]byte, int64) (int, error)

func (f readerAtFunc) ReadAt(b []byte, off int64) (int, error) { return f(b, off) }

// refuseStorage is the client-wide default storage. Every torrent brings its own store, so
// anything reaching this is a bug; refusing keeps anacrolix from writing files of its own choosing.
type refuseStorage struct{}

func (refuseStorage) OpenTorrent(context.Context, *metainfo.Info, metainfo.Hash) (storage.TorrentImpl, error) {
	return storage.TorrentImpl{}, errors.New("no storage: torrents must be added through swarm.Node.Add")
}
