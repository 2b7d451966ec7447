package early

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/binary"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// A peer that claims every piece and serves garbage is banned at its first piece; the clients end
// with the source's bytes, every one of them, from the relay and from each other.
func TestCorruptPeerNeverReachesAFile(t *testing.T) {
	t.Parallel()
	const size, pieceLen = 8<<20 + 1234, 256 << 10
	data := make([]byte, size)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	n := (size + pieceLen - 1) / pieceLen
	cfg := Config{Wait: 2 * time.Second, Coalesce: 5 * time.Millisecond}

	// The relay: every piece landed, but no take is answered until the bad peer was asked.
	asked := make(chan struct{})
	var askedOnce sync.Once
	relayReg := NewRegistry(cfg)
	var relayUp atomic.Int64
	src := NewSource(size, pieceLen, func(_ context.Context, b []byte, off int64) (int, error) {
		return bytes.NewReader(data).ReadAt(b, off)
	}, &relayUp)
	src.Gate = func(ctx context.Context) error {
		select {
		case <-asked:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	for i := range n {
		end := min(int64(i+1)*pieceLen, size)
		h := sha1.Sum(data[int64(i)*pieceLen : end])
		src.Landed(i, h[:])
	}
	defer relayReg.AddSource("d1", src)()
	relay := serveReg(t, relayReg)

	// The bad peer: a full bitmap, garbage for every piece.
	var badServed atomic.Int64
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(hdrSize, strconv.Itoa(size))
		w.Header().Set(hdrPieceLen, strconv.Itoa(pieceLen))
		switch filepath.Base(filepath.Dir(r.URL.Path)) {
		case "d1": // have
			_, _ = w.Write(binary.BigEndian.AppendUint64(nil, 1))
			_, _ = w.Write(bytes.Repeat([]byte{0xff}, (n+7)/8))
		default: // piece/{i}
			askedOnce.Do(func() { close(asked) })
			badServed.Add(1)
			_, _ = w.Write(bytes.Repeat([]byte{0xAB}, pieceLen))
		}
	}))
	t.Cleanup(bad.Close)

	type client struct {
		reg  *Registry
		url  string
		file *os.File
		m    *Member
		bad  atomic.Int64
	}
	clients := make([]*client, 2)
	for k := range clients {
		c := &client{reg: NewRegistry(cfg)}
		f, err := os.Create(filepath.Join(t.TempDir(), "part"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		c.file = f
		c.m = NewMember(size, pieceLen, func(_ context.Context, b []byte, off int64) (int, error) { return f.ReadAt(b, off) }, nil)
		defer c.reg.AddMember("d1", c.m)()
		c.url = serveReg(t, c.reg)
		clients[k] = c
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, len(clients))
	for k, c := range clients {
		other := clients[1-k].url
		fe := &Fetch{
			Reg: c.reg, ID: "d1", Size: size, PieceLen: pieceLen, File: c.file, Member: c.m,
			Landed: func(int, [sha1.Size]byte) {},
			Sources: func() (string, []string, <-chan struct{}) {
				return relay, []string{bad.URL, other}, nil
			},
			HTTP: http.DefaultClient, FromRelay: new(atomic.Int64), FromPeers: new(atomic.Int64), Bad: &c.bad,
			Log: slog.New(slog.DiscardHandler),
		}
		wg.Add(1)
		go func() { defer wg.Done(); errs[k] = fe.Run(ctx) }()
	}
	wg.Wait()
	for k, c := range clients {
		if errs[k] != nil {
			t.Fatalf("client %d: %v", k, errs[k])
		}
		got, err := io.ReadAll(io.NewSectionReader(c.file, 0, size))
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("client %d: its file differs from the source (%v)", k, err)
		}
	}
	if b := clients[0].bad.Load() + clients[1].bad.Load(); b == 0 || b > 2*int64(cfg.withDefaults().PerPeer) {
		t.Errorf("bad pieces noticed: %d; want at least one, and no more than the requests in flight before the ban", b)
	}
	t.Logf("bad peer served %d pieces; relay sent %.2f× the file", badServed.Load(), float64(relayUp.Load())/size)
}

func serveReg(t *testing.T, r *Registry) string {
	mux := http.NewServeMux()
	r.Routes(mux)
	s := httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s.URL
}

// Once the metainfo exists, an exchange that brings nothing hands over to BitTorrent instead of
// waiting for ever.
func TestStalledExchangeHandsOver(t *testing.T) {
	t.Parallel()
	const size, pieceLen = 1 << 20, 256 << 10
	reg := NewRegistry(Config{Stall: time.Millisecond, Wait: time.Second})
	src := NewSource(size, pieceLen, func(context.Context, []byte, int64) (int, error) { return 0, io.EOF }, nil)
	defer reg.AddSource("d1", src)() // a relay that never lands a piece
	relay := serveReg(t, reg)
	f, err := os.Create(filepath.Join(t.TempDir(), "part"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	known := make(chan struct{})
	close(known)
	fe := &Fetch{
		Reg: NewRegistry(Config{Stall: time.Millisecond}), ID: "d1", Size: size, PieceLen: pieceLen, File: f,
		Member: NewMember(size, pieceLen, nil, nil), Landed: func(int, [sha1.Size]byte) {},
		Sources: func() (string, []string, <-chan struct{}) { return relay, nil, nil },
		HTTP:    http.DefaultClient, Known: known, Log: slog.New(slog.DiscardHandler),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := fe.Run(ctx); !IsStalled(err) {
		t.Fatalf("Run = %v, want the stall that hands over to BitTorrent", err)
	}
}

// Bad input to the relay's routes gets a clear refusal, never a piece: a bitmap of the wrong
// length, a body far too long, an unknown distribution, a piece index out of range.
func TestRoutesRefuseBadInput(t *testing.T) {
	t.Parallel()
	const size, pieceLen = 1 << 20, 256 << 10 // 4 pieces: a 1-byte bitmap
	reg := NewRegistry(Config{TakeWait: time.Millisecond})
	src := NewSource(size, pieceLen, func(_ context.Context, b []byte, _ int64) (int, error) { return len(b), nil }, nil)
	src.Landed(0, make([]byte, sha1.Size))
	defer reg.AddSource("d1", src)()
	url := serveReg(t, reg)
	tests := []struct {
		name, method, path string
		body               []byte
		want               int
	}{
		{"bitmap too short", http.MethodPost, "/v1/early/d1/take", nil, http.StatusBadRequest},
		{"body far too long", http.MethodPost, "/v1/early/d1/take", make([]byte, 10<<20), http.StatusBadRequest},
		{"unknown distribution", http.MethodPost, "/v1/early/nope/take", []byte{0}, http.StatusNotFound},
		{"piece out of range", http.MethodGet, "/v1/early/d1/piece/99", nil, http.StatusNotFound},
		{"piece not a number", http.MethodGet, "/v1/early/d1/piece/x", nil, http.StatusNotFound},
		{"piece not landed", http.MethodGet, "/v1/early/d1/piece/1", nil, http.StatusNotFound},
		{"a good take", http.MethodPost, "/v1/early/d1/take", []byte{0}, http.StatusOK},
		{"nothing left to give", http.MethodPost, "/v1/early/d1/take", []byte{0}, http.StatusNoContent},
	}
	for _, tc := range tests { // in order: the good take uses up the one landed piece
		req, err := http.NewRequest(tc.method, url+tc.path, bytes.NewReader(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, resp.StatusCode, tc.want)
		}
	}
}

// One have answer carries a peer's changes as they come, a frame each with a growing version and
// the pieces so far, and ends once every piece is here.
func TestHaveStreamsEveryChange(t *testing.T) {
	t.Parallel()
	const size, pieceLen = 1 << 20, 256 << 10 // 4 pieces
	reg := NewRegistry(Config{Wait: 30 * time.Second, Coalesce: time.Millisecond})
	m := NewMember(size, pieceLen, nil, nil)
	m.Add(0)
	defer reg.AddMember("d1", m)()
	url := serveReg(t, reg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/v1/early/d1/have?v=0", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	frame := make([]byte, haveFrame(4))
	var last uint64
	for k := 1; k <= 4; k++ {
		if _, err := io.ReadFull(resp.Body, frame); err != nil {
			t.Fatalf("frame %d: %v", k, err)
		}
		ver, b := binary.BigEndian.Uint64(frame), bits(frame[8:])
		if ver <= last {
			t.Fatalf("frame %d: version %d after %d", k, ver, last)
		}
		last = ver
		for i := range 4 {
			if b.has(i) != (i < k) {
				t.Fatalf("frame %d: piece %d held = %v, want %v", k, i, b.has(i), i < k)
			}
		}
		if k < 4 {
			m.Add(k) // the next change, after the frame of this one was read: a frame of its own
		}
	}
	if n, err := resp.Body.Read(frame); n != 0 || err != io.EOF {
		t.Fatalf("after the full bitmap: %d bytes, %v; want the end of the answer", n, err)
	}
}
