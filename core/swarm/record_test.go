package swarm

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func onDisk(t *testing.T, path string, i int) byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b[headerLen+i]
}

func TestRecordSyncsDataBeforeMarkingComplete(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.pieces")
	ih := [20]byte{1, 2, 3}
	var seenAtSync []byte
	syncData := func() error {
		seenAtSync = append(seenAtSync, onDisk(t, path, 0))
		return nil
	}
	r, err := openRecord(testLogger(t), path, ih, 3, pieceIncomplete, true, syncData)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.markComplete(0); err != nil {
		t.Fatal(err)
	}
	if err := r.markIncomplete(2); err != nil {
		t.Fatal(err)
	}
	if got := onDisk(t, path, 2); got != pieceIncomplete {
		t.Fatalf("incomplete mark not written at once: %d", got)
	}
	if err := r.close(); err != nil {
		t.Fatal(err)
	}
	if len(seenAtSync) == 0 || seenAtSync[0] != pieceIncomplete {
		t.Fatalf("data sync saw the record as %v; the complete mark must follow the sync", seenAtSync)
	}
	if got := onDisk(t, path, 0); got != pieceComplete {
		t.Fatalf("complete mark not written by close: %d", got)
	}

	// Reopened: trusted as recorded.
	r, err = openRecord(testLogger(t), path, ih, 3, pieceUnknown, false, func() error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if c := r.completion(0); !c.Ok || !c.Complete {
		t.Fatalf("piece 0 after reopen: %+v", c)
	}
	if c := r.completion(2); !c.Ok || c.Complete {
		t.Fatalf("piece 2 after reopen: %+v", c)
	}
	r.close()

	// A different piece count (another torrent, same path): nothing trusted.
	r, err = openRecord(testLogger(t), path, ih, 4, pieceUnknown, false, func() error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if c := r.completion(0); c.Ok {
		t.Fatalf("piece 0 of a mismatched record: %+v", c)
	}
	r.close()
}

func TestRecordFailedSyncMarksNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.pieces")
	r, err := openRecord(testLogger(t), path, [20]byte{9}, 2, pieceIncomplete, true, func() error { return errors.New("disk gone") })
	if err != nil {
		t.Fatal(err)
	}
	if err := r.markComplete(1); err != nil {
		t.Fatal(err)
	}
	r.close()
	if got := onDisk(t, path, 1); got != pieceIncomplete {
		t.Fatalf("piece recorded complete though the data never synced: %d", got)
	}
}
