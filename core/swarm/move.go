package swarm

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// move puts the data file at dst and keeps serving from it. A rename is atomic and, on Unix,
// leaves the open descriptor valid, so readers never notice. Across filesystems the file is copied
// to a temporary file in dst's directory, synced, renamed over dst, and only then swapped in.
func (s *store) move(dst string) error {
	s.moveMu.Lock()
	defer s.moveMu.Unlock()
	src := s.dataPath()
	if src == dst {
		return nil
	}
	err := s.rename(src, dst)
	if err == nil {
		syncDir(filepath.Dir(dst))
		if filepath.Dir(src) != filepath.Dir(dst) {
			syncDir(filepath.Dir(src))
		}
		return nil
	}
	if !isCrossDevice(err) {
		return err
	}
	return s.copyMove(src, dst)
}

// rename renames the data file in place, closing and reopening it where an open file cannot be
// renamed (Windows).
func (s *store) rename(src, dst string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !reopenOnMove {
		if err := os.Rename(src, dst); err != nil {
			return err
		}
		s.path = dst
		return nil
	}
	if err := s.f.Close(); err != nil {
		return fmt.Errorf("close data %s: %w", src, err)
	}
	renameErr := os.Rename(src, dst)
	at := dst
	if renameErr != nil {
		at = src
	}
	f, err := os.OpenFile(at, os.O_RDWR, 0)
	if err != nil {
		// Nothing to serve from any more; reads fail until the torrent is dropped.
		return fmt.Errorf("reopen data %s: %w", at, err)
	}
	s.f, s.path = f, at
	return renameErr
}

// copyMove copies src to dst through a synced temporary file, then swaps the store over to dst
// and removes src. The data is complete and no longer written, so serving goes on during the copy.
func (s *store) copyMove(src, dst string) error {
	tmpPath, err := copyToTemp(src, dst)
	if err != nil {
		return err
	}
	if err := os.Rename(tmpPath, dst); err != nil {
		os.Remove(tmpPath)
		return fmt.Errorf("rename %s: %w", tmpPath, err)
	}
	syncDir(filepath.Dir(dst))
	nf, err := os.OpenFile(dst, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("open moved data %s: %w", dst, err)
	}
	s.mu.Lock()
	old := s.f
	s.f, s.path = nf, dst
	s.mu.Unlock()
	old.Close()
	if err := os.Remove(src); err != nil {
		return fmt.Errorf("remove moved data %s: %w", src, err)
	}
	return nil
}

// copyToTemp copies src into a new synced file beside dst and returns its path.
func copyToTemp(src, dst string) (string, error) {
	in, err := os.Open(src)
	if err != nil {
		return "", fmt.Errorf("copy data %s: %w", src, err)
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return "", fmt.Errorf("copy data %s: %w", src, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".part-*")
	if err != nil {
		return "", fmt.Errorf("copy data to %s: %w", dst, err)
	}
	fail := func(err error) (string, error) {
		tmp.Close()
		os.Remove(tmp.Name())
		return "", fmt.Errorf("copy data to %s: %w", dst, err)
	}
	if _, err := io.CopyBuffer(tmp, in, make([]byte, 4<<20)); err != nil {
		return fail(err)
	}
	if err := tmp.Chmod(fi.Mode().Perm()); err != nil {
		return fail(err)
	}
	if err := tmp.Sync(); err != nil {
		return fail(err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return "", fmt.Errorf("copy data to %s: %w", dst, err)
	}
	return tmp.Name(), nil
}
