package publish

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"dist/core/api"
	"dist/core/swarm"
)

func TestUnpublishWithdraws(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	node, err := swarm.New(swarm.Config{ListenAddr: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer node.Close()
	dir := t.TempDir()
	file := filepath.Join(dir, "image.iso")
	data := bytes.Repeat([]byte("dist"), 64<<10)
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := Config{Dir: filepath.Join(dir, "published"), Host: "h1", HTTPURL: "http://127.0.0.1:1", Node: node,
		Logger: slog.New(slog.DiscardHandler)}
	p := New(cfg)
	defer p.Close()
	for _, by := range []string{"hash", "path"} {
		pub, err := p.Publish(ctx, api.Publish{Path: file})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := p.File(pub.InfoHash); !ok {
			t.Fatal("published file is not served")
		}
		if _, err := os.Stat(filepath.Join(cfg.Dir, pub.InfoHash+".json")); err != nil {
			t.Fatalf("publication not recorded: %v", err)
		}
		what := pub.InfoHash
		if by == "path" {
			what = file
		}
		got, err := p.Unpublish(ctx, what)
		if err != nil || got.InfoHash != pub.InfoHash {
			t.Fatalf("unpublish by %s: %+v, %v", by, got, err)
		}
		if _, ok := p.File(pub.InfoHash); ok {
			t.Errorf("unpublished by %s: still served", by)
		}
		if node.Torrent(pub.InfoHash) != nil {
			t.Errorf("unpublished by %s: still seeded", by)
		}
		if _, err := os.Stat(filepath.Join(cfg.Dir, pub.InfoHash+".json")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("unpublished by %s: record left behind (%v): a restart would serve it again", by, err)
		}
		if b, err := os.ReadFile(file); err != nil || !bytes.Equal(b, data) {
			t.Fatalf("unpublish by %s touched the file itself: %v", by, err)
		}
		if _, err := p.Unpublish(ctx, what); !errors.Is(err, ErrNotPublished) {
			t.Errorf("unpublish by %s twice: %v, want ErrNotPublished", by, err)
		}
	}
	// A restart restores nothing that was withdrawn.
	q := New(cfg)
	if err := q.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(q.byHash); n != 0 {
		t.Errorf("%d publications restored after unpublish, want 0", n)
	}
}
