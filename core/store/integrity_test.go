package store

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"dist/core/api"
)

// filled opens a store in a fresh dir, writes hosts and distributions, and closes it.
func filled(t *testing.T, hosts int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "controller.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := range hosts {
		h := api.Host{Name: fmt.Sprintf("host-%04d", i), Roles: []api.Role{api.RoleClient},
			Labels: map[string]string{"site": "a", "rack": strings.Repeat("r", 40)}, LastSeen: t0}
		if err := s.UpsertHost(ctx, h); err != nil {
			t.Fatal(err)
		}
	}
	mustCreate(t, s, dist("d1", t0, api.DistActive), nil, asg("d1", "host-0000", api.RoleClient, api.TaskPending))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestOpenFreshDirAndMarker(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "controller.db")
	s, err := Open(path)
	if err != nil {
		t.Fatalf("fresh dir: %v", err)
	}
	defer s.Close()
	if _, err := os.Stat(path + MarkerSuffix); err == nil {
		t.Fatal("marker written for an empty store")
	}
	if err := s.UpsertHost(context.Background(), api.Host{Name: "h1", LastSeen: t0}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + MarkerSuffix); err != nil {
		t.Fatalf("no marker once the store holds a host: %v", err)
	}
	// An empty store reopens fine: no marker, nothing lost.
	empty := filepath.Join(t.TempDir(), "controller.db")
	for range 2 {
		e, err := Open(empty)
		if err != nil {
			t.Fatalf("reopen empty store: %v", err)
		}
		e.Close()
	}
}

func TestOpenRefusesLostDatabase(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		harm func(t *testing.T, path string)
		want string
	}{
		{"truncated", func(t *testing.T, p string) {
			if err := os.Truncate(p, 0); err != nil {
				t.Fatal(err)
			}
		}, "is empty (0 bytes)"},
		{"deleted", func(t *testing.T, p string) {
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
		}, "is missing"},
		{"replaced by an empty database", func(t *testing.T, p string) {
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
			// A valid database with our schema and no rows: Open it without the marker's help.
			m := p + MarkerSuffix
			if err := os.Rename(m, m+".away"); err != nil {
				t.Fatal(err)
			}
			s, err := Open(p)
			if err != nil {
				t.Fatal(err)
			}
			s.Close()
			if err := os.Rename(m+".away", m); err != nil {
				t.Fatal(err)
			}
		}, "holds no host, distribution or origin"},
		{"pages overwritten", func(t *testing.T, p string) {
			overwriteMiddle(t, p)
		}, "is damaged"},
		{"header overwritten", func(t *testing.T, p string) {
			f, err := os.OpenFile(p, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.WriteAt(bytes.Repeat([]byte{0x5a}, 100), 0); err != nil {
				t.Fatal(err)
			}
		}, "is damaged"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filled(t, 400)
			tt.harm(t, path)
			s, err := Open(path)
			if err == nil {
				s.Close()
				t.Fatal("open succeeded")
			}
			msg := err.Error()
			t.Log(msg)
			if !strings.Contains(msg, tt.want) || !strings.Contains(msg, path) ||
				!strings.Contains(msg, "restore it from a backup") || strings.Contains(msg, "\n") {
				t.Fatalf("error %q: want one line naming %s, %q and how to restore", msg, path, tt.want)
			}
		})
	}
}

// overwriteMiddle fills a page-aligned stretch in the middle of the file with garbage.
func overwriteMiddle(t *testing.T, path string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	const page = 4096
	if fi.Size() < 8*page {
		t.Fatalf("database is only %d bytes: too small to damage its middle", fi.Size())
	}
	off := fi.Size() / 2 / page * page
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(bytes.Repeat([]byte{0xff, 0x00, 0x13}, 2*page/3+1)[:2*page], off); err != nil {
		t.Fatal(err)
	}
}

func TestBackup(t *testing.T) {
	t.Parallel()
	path := filled(t, 50)
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	mustCreate(t, s, dist("d2", t0.Add(1), api.DistPending), []byte("meta"))
	var buf bytes.Buffer
	n, err := s.Backup(ctx, &buf)
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(buf.Len()) || !bytes.HasPrefix(buf.Bytes(), []byte("SQLite format 3\x00")) {
		t.Fatalf("backup of %d bytes (%d counted) is not a database file", buf.Len(), n)
	}
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "*.backup-*"))
	if len(left) > 0 {
		t.Errorf("backup left %v behind", left)
	}
	// Restore: the copy in a new data dir opens and holds both distributions and the hosts.
	restored := filepath.Join(t.TempDir(), "controller.db")
	if err := os.WriteFile(restored, buf.Bytes(), 0o640); err != nil {
		t.Fatal(err)
	}
	r, err := Open(restored)
	if err != nil {
		t.Fatalf("open the backup: %v", err)
	}
	defer r.Close()
	ds, err := r.Distributions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	hs, err := r.Hosts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 2 || ds[0].ID != "d2" || ds[1].ID != "d1" || len(hs) != 50 {
		t.Fatalf("backup holds %d distributions %v and %d hosts, want d2, d1 and 50", len(ds), ds, len(hs))
	}
	if d, err := r.Distribution(ctx, "d2"); err != nil || string(d.Metainfo) != "meta" {
		t.Fatalf("d2 in the backup: %+v, %v", d, err)
	}
}
