package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"dist/core/content"
	"dist/core/swarm"
	"dist/daemon/pluginhost"
	"dist/daemon/task"
)

// sink is where a client's copy lands.
type sink interface {
	name() string // the destination: a path, or a device URI
	streams() bool
	holds(m content.Meta) bool // whether a copy finished before a restart can still be there
	// spec says how the torrent stores the content; finished: it is in place already.
	spec(m content.Meta, finished bool) (swarm.Spec, error)
	taken()                          // the torrent holds the destination now and closes it
	commit(tor *swarm.Torrent) error // every piece verified and the checksum matched
	// copyIn writes the content from src (a complete torrent of this host) into the destination
	// and checks every piece of the result.
	copyIn(ctx context.Context, src io.ReaderAt, m content.Meta) error
	failed() <-chan struct{} // closed when the destination fails for good
	err() error
	close()
}

func (c *Client) sink(ctx context.Context, t *task.Task) (sink, error) {
	spec := t.Spec()
	roots := rootsOrDefault(c.cfg.DestRoots, t.Env().Data)
	if err := allowedBase(spec.Base, spec.Dest, roots); err != nil {
		return nil, err
	}
	if pluginhost.IsURI(spec.Dest) {
		// "{host}" in the URI becomes the host's name, for hosts whose targets differ by name.
		uri := strings.ReplaceAll(spec.Dest, "{host}", t.Env().Name)
		if err := allowed(uri, roots); err != nil {
			return nil, err
		}
		if c.cfg.Devices == nil {
			return nil, fmt.Errorf("destination %s: no plugins on this host", uri)
		}
		dev, err := c.cfg.Devices.Open(ctx, uri, true)
		if err != nil {
			return nil, fmt.Errorf("destination %s: %w", uri, err)
		}
		return &deviceSink{t: t, uri: uri, dev: dev}, nil
	}
	dest := destPath(t)
	if err := allowed(dest, roots); err != nil {
		return nil, err
	}
	return &fileSink{t: t, dest: dest}, nil
}

// fileSink downloads into a partial file in the task's directory and moves it into place.
type fileSink struct {
	t    *task.Task
	dest string
}

// destPath is where the finished file goes: the push's destination (a directory when it ends with
// a separator or already is one), else <data>/files/<name>.
func destPath(t *task.Task) string {
	spec := t.Spec()
	name := task.SafeName(spec.Name)
	dest := spec.Dest
	if dest == "" {
		return filepath.Join(t.Env().Data, "files", name)
	}
	if strings.HasSuffix(dest, "/") || strings.HasSuffix(dest, string(os.PathSeparator)) {
		return filepath.Join(dest, name)
	}
	if fi, err := os.Stat(dest); err == nil && fi.IsDir() {
		return filepath.Join(dest, name)
	}
	return dest
}

func (s *fileSink) name() string  { return s.dest }
func (s *fileSink) streams() bool { return true }

func (s *fileSink) holds(m content.Meta) bool {
	fi, err := os.Stat(s.dest)
	return err == nil && fi.Mode().IsRegular() && fi.Size() == m.Size
}

func (s *fileSink) spec(m content.Meta, finished bool) (swarm.Spec, error) {
	dir := s.t.Dir()
	if finished {
		return swarm.Spec{Meta: m, DataPath: s.dest, CompletionPath: filepath.Join(dir, "seed.pieces"), Complete: true}, nil
	}
	if err := os.MkdirAll(filepath.Dir(s.dest), 0o755); err != nil {
		return swarm.Spec{}, fmt.Errorf("destination directory %s: %w", filepath.Dir(s.dest), err)
	}
	return swarm.Spec{Meta: m, DataPath: partPath(s.t), CompletionPath: recordPath(s.t)}, nil
}

func (s *fileSink) commit(tor *swarm.Torrent) error {
	if err := tor.Move(s.dest); err != nil {
		return fmt.Errorf("move into place %s: %w", s.dest, err)
	}
	return nil
}

func (s *fileSink) failed() <-chan struct{} { return nil }
func (s *fileSink) err() error              { return nil }
func (s *fileSink) close()                  {}
func (s *fileSink) taken()                  {}

func partPath(t *task.Task) string   { return filepath.Join(t.Dir(), "data.part") }
func recordPath(t *task.Task) string { return filepath.Join(t.Dir(), "data.pieces") }

// deviceSink writes the pieces straight into a device through its plugin. There is no atomic move
// for a device, so the order is: all pieces verified, the whole-content checksum checked, then a
// sync, then done.
type deviceSink struct {
	t     *task.Task
	uri   string
	dev   *pluginhost.Handle
	owned bool // the torrent holds the device and closes it
}

func (s *deviceSink) name() string                { return s.uri }
func (s *deviceSink) streams() bool               { return false }
func (s *deviceSink) holds(content.Meta) bool     { return true }
func (s *deviceSink) failed() <-chan struct{}     { return s.dev.Failed() }
func (s *deviceSink) err() error                  { return s.dev.Err() }
func (s *deviceSink) commit(*swarm.Torrent) error { return s.sync() }

func (s *deviceSink) spec(m content.Meta, finished bool) (swarm.Spec, error) {
	return swarm.Spec{Meta: m, DataPath: s.uri, Device: s.dev, CompletionPath: recordPath(s.t), Complete: finished}, nil
}

func (s *deviceSink) taken() { s.owned = true }

func (s *deviceSink) sync() error {
	if err := s.dev.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", s.uri, err)
	}
	return nil
}

func (s *deviceSink) close() {
	if !s.owned {
		_ = s.dev.Close()
	}
}

func (s *fileSink) copyIn(ctx context.Context, src io.ReaderAt, m content.Meta) error {
	dir := filepath.Dir(s.dest)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("destination directory %s: %w", dir, err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(s.dest)+".*")
	if err != nil {
		return fmt.Errorf("copy into %s: %w", s.dest, err)
	}
	defer os.Remove(f.Name())
	err = copyChecked(ctx, f, src, m)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), s.dest)
	}
	if err != nil {
		return fmt.Errorf("copy into %s: %w", s.dest, err)
	}
	return nil
}

func (s *deviceSink) copyIn(ctx context.Context, src io.ReaderAt, m content.Meta) error {
	if err := copyChecked(ctx, s.dev, src, m); err != nil {
		return fmt.Errorf("copy into %s: %w", s.uri, err)
	}
	return nil
}

// copyChecked copies m's content from src to dst, syncs it, and checks every piece of dst.
func copyChecked(ctx context.Context, dst interface {
	io.WriterAt
	io.ReaderAt
	Sync() error
}, src io.ReaderAt, m content.Meta) error {
	buf := make([]byte, 4<<20)
	for off := int64(0); off < m.Size; {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, err := src.ReadAt(buf[:min(int64(len(buf)), m.Size-off)], off)
		if n > 0 {
			if _, werr := dst.WriteAt(buf[:n], off); werr != nil {
				return werr
			}
			off += int64(n)
		}
		if err != nil && !(errors.Is(err, io.EOF) && off == m.Size) {
			return err
		}
	}
	if err := dst.Sync(); err != nil {
		return err
	}
	pieces, err := content.HashPieces(ctx, dst, m.Size, m.PieceLen, 0)
	if err != nil {
		return err
	}
	if !bytes.Equal(pieces, m.Pieces) {
		return errors.New("the copy does not match the metainfo")
	}
	return nil
}
