package client

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"dist/core/content"
	"dist/core/swarm"
	"dist/daemon/task"
)

// endCheckPath is where the trusted end check of a task keeps its progress across a crash.
func endCheckPath(t *task.Task) string { return filepath.Join(t.Dir(), "endcheck.json") }

// endCheck answers the whole-content SHA-256 of a copy whose every piece is here. pre, when set,
// is that of the same bytes computed as they landed: nothing is read. In normal mode the bytes are
// read through the torrent, which hashes again each piece not hashed lately; in trusted mode
// (content/trusted.go) they are read once as stored, the sum is saved every content.CheckEvery
// bytes so a crash resumes, and a sum that matches want counts every piece as verified now.
func (c *Client) endCheck(ctx context.Context, t *task.Task, m content.Meta, tor *swarm.Torrent, pre, want string) (string, error) {
	if pre != "" {
		return pre, nil
	}
	if !m.Trusted {
		return content.SHA256(ctx, tor, m.Size)
	}
	start := time.Now()
	stored := readerAt(tor.StoredAt)
	sum, from, err := content.ResumableSHA256(ctx, stored, m.Size, m.InfoHash, endCheckPath(t), content.CheckEvery)
	if err == nil && sum != want && from > 0 {
		// The bytes before the saved state may have changed since (a piece fetched again): read
		// them all before calling the copy bad.
		t.Log().Info("resumed end check failed: checking again from the start", "from", from)
		sum, from, err = content.ResumableSHA256(ctx, stored, m.Size, m.InfoHash, endCheckPath(t), content.CheckEvery)
	}
	if err != nil {
		return "", err
	}
	took := time.Since(start)
	t.Log().Info("trusted end check", "match", sum == want, "resumed_at", from, "bytes", m.Size-from,
		"took", took.Round(time.Millisecond), "mib_per_s", int64(float64(m.Size-from)/(1<<20)/max(took.Seconds(), 1e-3)))
	if sum == want {
		tor.Checked(start)
	}
	return sum, nil
}

// repairing says, in the task's report, why a copy that failed its end check is not done yet.
func repairing(t *task.Task, s sink, m content.Meta, got, want string, bad, try, tries int) {
	t.SetProblem(fmt.Sprintf("end check failed (%s mode): %s has sha256 %s, expected %s: %d bad pieces found, fetching them again (repair %d of %d)",
		m.Mode(), s.name(), got, want, bad, try, tries))
}

type readerAt func([]byte, int64) (int, error)

func (f readerAt) ReadAt(b []byte, off int64) (int, error) { return f(b, off) }
