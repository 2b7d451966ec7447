package swarm

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"dist/core/content"
)

// TestLargestPieces moves a file cut in pieces of the largest size (64 MiB: two whole ones and a
// short last one) from a seed to three leechers connected to each other: every leecher ends
// with every piece verified and the file bit-identical, and the default in-flight window holds
// many such pieces.
func TestLargestPieces(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("moves 3 × 133 MiB")
	}
	if defaultMaxUnverifiedBytes < 16*content.MaxPieceLength {
		t.Fatalf("default in-flight window %d holds fewer than 16 pieces of %d", defaultMaxUnverifiedBytes, content.MaxPieceLength)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	src := withPieceLen(t, makeSource(t, dir, 2*content.MaxPieceLength+5*mib, 64), content.MaxPieceLength)
	if src.meta.NumPieces != 3 || src.meta.PieceLen != 64*mib {
		t.Fatalf("metainfo has %d pieces of %d", src.meta.NumPieces, src.meta.PieceLen)
	}
	seedNode := newNode(t, Config{})
	add(t, seedNode, Spec{Meta: src.meta, DataPath: src.path, Complete: true})
	addrs := []string{seedNode.Addr()}
	var leechers []*Torrent
	for i := range 3 {
		n := newNode(t, Config{})
		addrs = append(addrs, n.Addr())
		leechers = append(leechers, add(t, n, Spec{Meta: src.meta, DataPath: filepath.Join(dir, fmt.Sprint(i), "out.img")}))
	}
	for _, l := range leechers {
		l.AddPeers(addrs)
	}
	for i, l := range leechers {
		waitDone(t, ctx, l)
		st := l.Stats()
		if st.PiecesComplete != 3 || st.Have != src.meta.Size || st.PiecesBad != 0 {
			t.Errorf("leecher %d: %+v", i, st)
		}
		checkFile(t, l.DataPath(), src.sha256)
	}
}
