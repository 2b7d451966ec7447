package swarm

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"dist/core/content"
	"dist/core/device"
)

// dataFile is what a store reads and writes: an *os.File or a Device.
type dataFile interface {
	io.ReaderAt
	io.WriterAt
	Sync() error
	Close() error
}

// errDeviceMove refuses Move for a device: there is no atomic rename of a partition; the content
// is written in place, verified, then synced.
var errDeviceMove = errors.New("content written into a device stays there: nothing to move")

// openDeviceStore wraps dev as a torrent's storage. name describes it (a URI) in messages; the
// completion record at recordPath lets a restart resume. dev is closed with the store.
func openDeviceStore(log *slog.Logger, m content.Meta, infoHash [20]byte, dev device.Device, name, recordPath string, complete bool) (*store, error) {
	if dev.Size() < m.Size {
		return nil, fmt.Errorf("device %s holds %d bytes, the content needs %d: use a bigger target", name, dev.Size(), m.Size)
	}
	if recordPath == "" {
		return nil, fmt.Errorf("device %s: no completion record path", name)
	}
	if err := os.MkdirAll(filepath.Dir(recordPath), 0o755); err != nil {
		return nil, fmt.Errorf("create directory %s: %w", filepath.Dir(recordPath), err)
	}
	s := &store{meta: m, path: name, f: dev, device: true}
	// A device holds whatever it held before: trust its own matching record, else fetch
	// everything (hashing a whole partition to find the few pieces that happen to match costs
	// more than it saves).
	init, force := pieceIncomplete, false
	if complete {
		init, force = pieceComplete, true
	}
	var err error
	s.rec, err = openRecord(log, recordPath, infoHash, m.NumPieces, init, force, false, s.sync)
	if err != nil {
		return nil, err
	}
	return s, nil
}
