package client

import (
	"cmp"
	"os"

	"dist/core/swarm"
	"dist/daemon/task"
)

// useBase lets a download keep what its destination holds already: an older version of the
// image at the same path (a delta update), or at the push's base path when it names one (checked
// against the destination roots by sink). A file destination is downloaded beside the old file,
// so the old file is read as the base (pieces that still hash right are copied, not fetched) and
// replaced only when the new copy is whole and checked; a device is updated in place, its pieces
// hashed where they are. Zero pieces need nothing from here: the torrent writes them itself.
func (c *Client) useBase(t *task.Task, s sink, spec *swarm.Spec) {
	if spec.Complete || spec.ReadOnly || spec.SeedOnly {
		return
	}
	switch s := s.(type) {
	case *fileSink:
		// Opened read-only: the base is only read, never written, moved or removed.
		base := cmp.Or(t.Spec().Base, s.dest)
		f, err := os.Open(base)
		if err != nil {
			if base != s.dest {
				t.Log().Warn("the push's base cannot be read: every piece is fetched", "base", base, "err", err)
			}
			return // nothing there yet: a first copy
		}
		fi, err := f.Stat()
		if err != nil || !fi.Mode().IsRegular() || fi.Size() == 0 {
			f.Close()
			return
		}
		spec.Base, spec.BaseSize = f, fi.Size() // the torrent closes it
		t.Log().Info("an older version is there: its pieces that still match are kept", "dest", s.dest, "base", base, "bytes", fi.Size())
	case *deviceSink:
		spec.BaseInPlace = true
	}
}

// fillsLocally reports whether some pieces of the task can be written here instead of fetched:
// the metainfo is known and marks zero pieces, or a file to keep pieces from is there (the push's
// base, or an older version at the destination). The exchange before the torrent fetches every
// piece over HTTP, so such a task goes to the torrent at once: it fills those pieces itself, and
// the publisher seeds the rest from the first second.
func fillsLocally(t *task.Task, s sink) bool {
	fs, ok := s.(*fileSink)
	if !ok {
		return false
	}
	m, known := t.MetaNow()
	if !known {
		return false
	}
	if n, _ := m.ZeroPieces(); n > 0 {
		return true
	}
	fi, err := os.Stat(cmp.Or(t.Spec().Base, fs.dest))
	return err == nil && fi.Mode().IsRegular() && fi.Size() > 0
}
