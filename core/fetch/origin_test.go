package fetch_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"dist/core/fetch"
	"dist/daemon/demo/origin"
)

// TestPullFromOrigin runs Probe and Pull against the instrumented origin
// fixture in each of its modes.
func TestPullFromOrigin(t *testing.T) {
	t.Parallel()
	const size, chunk = 4<<20 + 333, 256 << 10
	file := filepath.Join(t.TempDir(), "src.bin")
	sum, err := origin.Generate(file, size, 99)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		mode       origin.Mode
		wantStatus int // of the *SourceError; 0: success
	}{
		{origin.ModeNormal, 0},
		{origin.ModeFlaky, 0}, // the probe is its first request, which succeeds
		{origin.ModeNoRange, http.StatusOK},
		{origin.ModeNotFound, http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.mode.String(), func(t *testing.T) {
			o, err := origin.Start(origin.Options{File: file, Mode: tt.mode})
			if err != nil {
				t.Fatal(err)
			}
			defer o.Close()
			tr := &http.Transport{}
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr}

			got, err := fetch.Probe(t.Context(), client, o.URL())
			if tt.wantStatus != 0 {
				var se *fetch.SourceError
				if !errors.As(err, &se) || se.Status != tt.wantStatus {
					t.Fatalf("Probe error = %v, want a *SourceError with status %d", err, tt.wantStatus)
				}
				return
			}
			if err != nil || got != size {
				t.Fatalf("Probe = %d, %v; want %d", got, err, size)
			}

			dst, err := os.Create(filepath.Join(t.TempDir(), "dst.bin"))
			if err != nil {
				t.Fatal(err)
			}
			defer dst.Close()
			p := &fetch.Pull{URL: o.URL(), Client: client, Size: size, Chunk: chunk, Dst: dst,
				// Every 3rd request of the flaky origin fails, whoever sends it:
				// with 4 workers one chunk may draw several in a row.
				Retries: 20, Backoff: func(int) time.Duration { return 0 }}
			if err := p.Run(t.Context()); err != nil {
				t.Fatalf("Run: %v", err)
			}
			data, err := os.ReadFile(dst.Name())
			if err != nil {
				t.Fatal(err)
			}
			if h := sha256.Sum256(data); hex.EncodeToString(h[:]) != sum || len(data) != size {
				t.Fatal("pulled file differs from the origin's")
			}
			if st := o.Stats(); st.BytesServed != size+1 {
				t.Errorf("origin served %d bytes, want %d (the file and the probe's byte)", st.BytesServed, size+1)
			}
		})
	}
}
