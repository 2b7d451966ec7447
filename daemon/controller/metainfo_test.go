package controller_test

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"dist/core/api"
)

func TestPutMetainfo(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.fleet()
	held := holdSignal(e)
	d := e.create("c1")
	first, err := e.host.Watch(ctxT(t), "c1", "")
	if err != nil || len(first.Tasks) != 1 || first.Tasks[0].Metainfo != nil {
		t.Fatalf("before metainfo: %+v %v", first.Tasks, err)
	}

	err = e.host.PutMetainfo(ctxT(t), d.ID, torrent(t, fileSize-1))
	if status, code := statusCode(t, err); status != http.StatusBadRequest || code != api.CodeBadRequest {
		t.Fatalf("wrong size: status %d code %q, want 400", status, code)
	}
	err = e.host.PutMetainfo(ctxT(t), "nope", torrent(t, fileSize))
	if status, _ := statusCode(t, err); status != http.StatusNotFound {
		t.Fatalf("unknown distribution: status %d, want 404", status)
	}

	out := heldWatch(t, e, held, "c1", first.Version)
	mi := torrent(t, fileSize)
	if err := e.host.PutMetainfo(ctxT(t), d.ID, mi); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-out:
		// The watch names the metainfo by its sum; the bytes come once, from their own route.
		if r.err != nil || len(r.w.Tasks) != 1 || r.w.Tasks[0].Metainfo != nil || r.w.Tasks[0].PieceLen != 256<<10 {
			t.Fatalf("woken watch: %+v %v", r.w.Tasks, r.err)
		}
		sum := sha256.Sum256(mi)
		if got := r.w.Tasks[0].MetainfoSHA256; got != hex.EncodeToString(sum[:]) {
			t.Fatalf("watch names metainfo %q, want the SHA-256 of its bytes", got)
		}
		got, err := e.host.Metainfo(ctxT(t), r.w.Tasks[0].MetainfoSHA256)
		if err != nil || !slices.Equal(got, mi) {
			t.Fatalf("fetched metainfo: %d bytes, %v; want the %d published", len(got), err, len(mi))
		}
		if _, err := e.host.Metainfo(ctxT(t), strings.Repeat("0", 64)); !api.IsCode(err, api.CodeNotFound) {
			t.Errorf("unknown metainfo sum: %v, want not found", err)
		}
	case <-time.After(answerWithin):
		t.Fatal("metainfo did not wake the watch")
	}
	if got := e.dist(d.ID); got.InfoHash == "" || !slices.Equal(got.Metainfo, mi) {
		t.Fatalf("stored %+v", got)
	}

	// Publishing the same again is fine (relays retry); another torrent is a conflict.
	if err := e.host.PutMetainfo(ctxT(t), d.ID, mi); err != nil {
		t.Fatalf("republish: %v", err)
	}
	other := torrent(t, fileSize)
	other[len(other)-3] ^= 0xff // flips a byte of the piece hashes: another info hash
	err = e.host.PutMetainfo(ctxT(t), d.ID, other)
	if status, code := statusCode(t, err); status != http.StatusConflict || code != api.CodeConflict {
		t.Fatalf("other metainfo: status %d code %q, want 409 conflict (%v)", status, code, err)
	}
}
