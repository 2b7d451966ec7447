package swarm

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"dist/core/content"
)

// withPieceLen re-makes src's metainfo with another piece length, so pieces span several chunks.
func withPieceLen(tb testing.TB, src source, pl int64) source {
	tb.Helper()
	size := int64(len(src.data))
	pieces, err := content.HashPieces(context.Background(), bytes.NewReader(src.data), size, pl, 0)
	if err != nil {
		tb.Fatal(err)
	}
	mi, _, err := content.Build("source.img", size, pl, pieces)
	if err != nil {
		tb.Fatal(err)
	}
	if src.meta, err = content.Parse(mi); err != nil {
		tb.Fatal(err)
	}
	src.mi = mi
	return src
}

// TestChunkSizes fetches a file whose pieces span several chunks from a seed, with both sides at
// our chunk size, with the two sides at different sizes (a fleet part-way through an upgrade),
// and from a seed whose upload is limited.
func TestChunkSizes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src := withPieceLen(t, makeSource(t, dir, 8*mib, 5), 1*mib)
	for _, tc := range []struct {
		name             string
		seedChunk, leech int
		seedUp           int64
	}{
		{"ours on both sides", 0, 0, 0},
		{"seed at 16 KiB", 16 << 10, 0, 0},
		{"leecher at 16 KiB", 0, 16 << 10, 0},
		{"seed upload limited", 0, 0, 64 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			seedNode := newNode(t, Config{chunkSize: tc.seedChunk, UploadRate: tc.seedUp})
			seed := add(t, seedNode, Spec{Meta: src.meta, DataPath: src.path, Complete: true})
			n := newNode(t, Config{chunkSize: tc.leech})
			out := filepath.Join(t.TempDir(), "out.img")
			l := add(t, n, Spec{Meta: src.meta, DataPath: out})
			l.AddPeers([]string{seedNode.Addr()})
			waitDone(t, ctx, l)
			checkFile(t, out, src.sha256)
			if up := seed.Stats().BytesUp; up < 8*mib {
				t.Errorf("seed sent %d bytes, want the whole file (%d)", up, 8*mib)
			}
			if err := l.Drop(true); err != nil {
				t.Error(err)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("dropped leecher's file still there: %v", err)
			}
		})
	}
}

// TestPaceUpload checks that bytes sent besides BitTorrent draw on the node's upload limit: at
// once while unlimited, and not beyond the limit (a wait longer than the context allows fails at
// once, so nothing here sleeps).
func TestPaceUpload(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	free := newNode(t, Config{})
	if err := free.PaceUpload(ctx, 64<<20); err != nil {
		t.Fatalf("unlimited node: %v", err)
	}
	slow := newNode(t, Config{UploadRate: 1 << 20})
	// Far beyond what one second's burst plus 200 ms at 1 MiB/s allows.
	if err := slow.PaceUpload(ctx, 8<<20); err == nil {
		t.Fatal("8 MiB within 200 ms at 1 MiB/s: want the budget refused")
	}
	slow.SetRates(0, 0)
	if err := slow.PaceUpload(ctx, 8<<20); err != nil {
		t.Fatalf("limit lifted: %v", err)
	}
}
