package swarm

import (
	"bytes"
	"crypto/sha1"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
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
	r, err := openRecord(testLogger(t), path, ih, 3, pieceIncomplete, true, false, syncData)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.markComplete(0); err != nil {
		t.Fatal(err)
	}
	if err := r.MarkIncomplete(2); err != nil {
		t.Fatal(err)
	}
	if got := onDisk(t, path, 2); got != pieceIncomplete {
		t.Fatalf("incomplete mark not written at once: %d", got)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if len(seenAtSync) == 0 || seenAtSync[0] != pieceIncomplete {
		t.Fatalf("data sync saw the record as %v; the complete mark must follow the sync", seenAtSync)
	}
	if got := onDisk(t, path, 0); got != pieceComplete {
		t.Fatalf("complete mark not written by close: %d", got)
	}

	// Reopened: trusted as recorded.
	r, err = openRecord(testLogger(t), path, ih, 3, pieceUnknown, false, false, func() error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if c := r.completion(0); !c.Ok || !c.Complete {
		t.Fatalf("piece 0 after reopen: %+v", c)
	}
	if c := r.completion(2); !c.Ok || c.Complete {
		t.Fatalf("piece 2 after reopen: %+v", c)
	}
	r.Close()

	// A different piece count (another torrent, same path): nothing trusted.
	r, err = openRecord(testLogger(t), path, ih, 4, pieceUnknown, false, false, func() error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if c := r.completion(0); c.Ok {
		t.Fatalf("piece 0 of a mismatched record: %+v", c)
	}
	r.Close()
}

func TestRecordFailedSyncMarksNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.pieces")
	r, err := openRecord(testLogger(t), path, [20]byte{9}, 2, pieceIncomplete, true, false, func() error { return errors.New("disk gone") })
	if err != nil {
		t.Fatal(err)
	}
	if err := r.markComplete(1); err != nil {
		t.Fatal(err)
	}
	r.Close()
	if got := onDisk(t, path, 1); got != pieceIncomplete {
		t.Fatalf("piece recorded complete though the data never synced: %d", got)
	}
}

// TestRecordBind is the path of a file hashed before its metainfo existed (a relay pulling a URL
// source, a client streaming it): the pieces whose recorded hash matches the metainfo stay
// complete, a piece that does not match is fetched again, and a torrent added over the record
// trusts exactly those.
func TestRecordBind(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src := makeSource(t, dir, 2*mib, 21)
	part := filepath.Join(dir, "data.part")
	data := append([]byte(nil), src.data...)
	data[3*int(src.meta.PieceLen)+5] ^= 0xff // piece 3 arrived rotten
	if err := os.WriteFile(part, data, 0o644); err != nil {
		t.Fatal(err)
	}
	recPath := filepath.Join(dir, "data.pieces")
	rec, err := OpenRecord(testLogger(t), recPath, src.meta.NumPieces, [20]byte{}, func() error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		off, n := src.meta.PieceRange(i)
		h := sha1.Sum(data[off : off+n])
		rec.MarkComplete(i, h[:])
	}
	// Reopened before the metainfo came (a restart): the hashes are still there.
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	rec, err = OpenRecord(testLogger(t), recPath, src.meta.NumPieces, [20]byte{}, func() error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if h := rec.Hash(4); h == nil {
		t.Fatal("hash of piece 4 lost on reopen")
	}
	kept, err := rec.Bind(src.meta)
	if err != nil {
		t.Fatal(err)
	}
	if kept != 4 {
		t.Fatalf("bind kept %d pieces, want 4 (0-2 and 4; 3 is rotten)", kept)
	}
	n := newNode(t, Config{})
	tor := add(t, n, Spec{Meta: src.meta, DataPath: part, Record: rec})
	st := tor.Stats()
	if st.PiecesComplete != 4 || tor.HasPiece(3) || !tor.HasPiece(4) {
		t.Fatalf("torrent over the bound record: %+v, piece 3 %v", st, tor.HasPiece(3))
	}
	// The seed completes the rest, piece 3 included.
	seedNode := newNode(t, Config{})
	add(t, seedNode, Spec{Meta: src.meta, DataPath: src.path, Complete: true})
	tor.AddPeers([]string{seedNode.Addr()})
	select {
	case <-tor.Done():
	case <-time.After(30 * time.Second):
		t.Fatalf("not complete: %+v", tor.Stats())
	}
	got, err := os.ReadFile(tor.DataPath())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, src.data) {
		t.Fatal("file differs from the source after completion")
	}
}

// A record bound to one torrent is not trusted for another.
func TestRecordBoundElsewhere(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "r.pieces")
	r, err := openRecord(testLogger(t), path, [20]byte{1}, 3, pieceComplete, true, false, func() error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	r, err = openRecord(testLogger(t), path, [20]byte{2}, 3, pieceUnknown, false, false, func() error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if c := r.completion(0); c.Ok {
		t.Fatalf("record of torrent 1 trusted for torrent 2: %+v", c)
	}
}
