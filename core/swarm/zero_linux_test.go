package swarm

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// allocated is the disk space a file takes.
func allocated(t *testing.T, path string) int64 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Blocks * 512
}

// Zero pieces cost no disk: a new file keeps its holes, and an old file full of data gets them
// punched.
func TestZeroPiecesStaySparse(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src, zeroBytes := zeroSource(t, dir)
	seedNode := newNode(t, Config{})
	add(t, seedNode, Spec{Meta: src.meta, DataPath: src.path, Complete: true})
	for _, old := range []bool{false, true} {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		p := filepath.Join(t.TempDir(), "out.img")
		if old {
			if err := os.WriteFile(p, make([]byte, src.meta.Size), 0o644); err != nil { // allocated zeros
				t.Fatal(err)
			}
		}
		l := add(t, newNode(t, Config{}), Spec{Meta: src.meta, DataPath: p})
		l.AddPeers([]string{seedNode.Addr()})
		waitDone(t, ctx, l)
		data := src.meta.Size - zeroBytes
		if got := allocated(t, p); got > data+data/4 {
			if old && got >= src.meta.Size {
				t.Skipf("this filesystem does not punch holes (%d bytes allocated)", got)
			}
			t.Errorf("old file %v: %d bytes allocated for %d data bytes", old, got, data)
		}
	}
}
