package swarm

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"dist/core/content"
)

const mib = int64(1) << 20

// source is a generated file and its metainfo.
type source struct {
	path   string
	data   []byte
	mi     []byte
	meta   content.Meta
	sha256 string
}

func makeSource(tb testing.TB, dir string, size int64, seed uint64) source {
	tb.Helper()
	data := make([]byte, size)
	r := rand.New(rand.NewPCG(seed, seed+1))
	for i := 0; i+8 <= len(data); i += 8 {
		v := r.Uint64()
		data[i], data[i+1], data[i+2], data[i+3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
		data[i+4], data[i+5], data[i+6], data[i+7] = byte(v>>32), byte(v>>40), byte(v>>48), byte(v>>56)
	}
	path := filepath.Join(dir, "source.img")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		tb.Fatal(err)
	}
	pl := content.PieceLength(size)
	pieces, err := content.HashPieces(context.Background(), bytes.NewReader(data), size, pl, 0)
	if err != nil {
		tb.Fatal(err)
	}
	mi, _, err := content.Build("source.img", size, pl, pieces)
	if err != nil {
		tb.Fatal(err)
	}
	meta, err := content.Parse(mi)
	if err != nil {
		tb.Fatal(err)
	}
	sum, err := content.SHA256File(context.Background(), path)
	if err != nil {
		tb.Fatal(err)
	}
	return source{path: path, data: data, mi: mi, meta: meta, sha256: sum}
}

// testLogger sends everything through the test log, so a failing test shows what anacrolix warned
// about and a passing one prints nothing.
func testLogger(tb testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tbWriter{tb}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type tbWriter struct{ tb testing.TB }

func (w tbWriter) Write(p []byte) (int, error) {
	w.tb.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func newNode(tb testing.TB, cfg Config) *Node {
	tb.Helper()
	if cfg.ListenAddr == "" {
		cfg.ListenAddr = "127.0.0.1:0"
	}
	if cfg.Logger == nil {
		cfg.Logger = testLogger(tb)
	}
	n, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := n.Close(); err != nil {
			tb.Error(err)
		}
	})
	return n
}

func add(tb testing.TB, n *Node, s Spec) *Torrent {
	tb.Helper()
	t, err := n.Add(context.Background(), s)
	if err != nil {
		tb.Fatal(err)
	}
	return t
}

// waitFor polls cond until it holds or ctx ends.
func waitFor(ctx context.Context, cond func() bool) error {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
	return nil
}

func waitDone(tb testing.TB, ctx context.Context, t *Torrent) {
	tb.Helper()
	select {
	case <-t.Done():
	case <-ctx.Done():
		tb.Fatalf("torrent %s not done: %+v", t.InfoHash(), t.Stats())
	}
}

func checkFile(tb testing.TB, path, want string) {
	tb.Helper()
	got, err := content.SHA256File(context.Background(), path)
	if err != nil {
		tb.Fatal(err)
	}
	if got != want {
		tb.Fatalf("%s: sha256 %s, want %s", path, got, want)
	}
}

func TestSeedToFourLeechers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	dir := t.TempDir()
	src := makeSource(t, dir, 64*mib, 1)

	seedNode := newNode(t, Config{})
	seed := add(t, seedNode, Spec{Meta: src.meta, DataPath: src.path, Complete: true})
	select {
	case <-seed.Done():
	case <-ctx.Done():
		t.Fatal("seed with Complete never done")
	}
	if st := seed.Stats(); st.Have != st.Size || st.PiecesComplete != st.Pieces {
		t.Fatalf("seed stats %+v", st)
	}

	addrs := []string{seedNode.Addr()}
	var leechers []*Torrent
	for i := range 4 {
		n := newNode(t, Config{})
		addrs = append(addrs, n.Addr())
		leechers = append(leechers, add(t, n, Spec{
			Meta:     src.meta,
			DataPath: filepath.Join(dir, "leecher", string(rune('a'+i)), "out.img"),
		}))
	}
	if _, err := leechers[0].n.Add(ctx, Spec{Meta: src.meta, DataPath: src.path}); err == nil {
		t.Fatal("second Add of the same torrent accepted")
	}
	for _, l := range leechers {
		l.AddPeers(addrs) // includes its own address, which must be skipped
	}
	seed.AddPeers(addrs)

	var sumBT, sumUp int64
	for _, l := range leechers {
		waitDone(t, ctx, l)
	}
	for i, l := range leechers {
		st := l.Stats()
		t.Logf("leecher %d: %+v", i, st)
		if st.Have != st.Size || st.Size != src.meta.Size || st.PiecesComplete != st.Pieces {
			t.Errorf("leecher %d: stats %+v", i, st)
		}
		if st.BytesBT < st.Size {
			t.Errorf("leecher %d: only %d bytes over BitTorrent for a %d byte file", i, st.BytesBT, st.Size)
		}
		checkFile(t, l.DataPath(), src.sha256)
		sumBT += st.BytesBT
		sumUp += st.BytesUp
	}
	sumUp += seed.Stats().BytesUp
	t.Logf("seed uploaded %d, leechers to each other %d", seed.Stats().BytesUp, sumUp-seed.Stats().BytesUp)
	if sumUp < sumBT {
		t.Errorf("peers uploaded %d bytes but leechers read %d useful bytes", sumUp, sumBT)
	}
}

func TestResumeAfterDrop(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	dir := t.TempDir()
	src := makeSource(t, dir, 32*mib, 2)
	seedNode := newNode(t, Config{})
	add(t, seedNode, Spec{Meta: src.meta, DataPath: src.path, Complete: true})

	// Slow enough to stop half-way: ~2 s for the whole file.
	ln := newNode(t, Config{DownloadRate: 16 * mib})
	spec := Spec{
		Meta:           src.meta,
		DataPath:       filepath.Join(dir, "leech", "out.img"),
		CompletionPath: filepath.Join(dir, "state", "out.pieces"),
	}
	l := add(t, ln, spec)
	l.AddPeers([]string{seedNode.Addr()})
	half := src.meta.NumPieces / 2
	if err := waitFor(ctx, func() bool { return l.Stats().PiecesComplete >= half }); err != nil {
		t.Fatalf("never got half-way: %+v", l.Stats())
	}
	if err := l.Drop(false); err != nil {
		t.Fatal(err)
	}
	if err := l.Drop(false); err != nil {
		t.Fatalf("second drop: %v", err)
	}
	before := l.Stats()
	if before.PiecesComplete == before.Pieces {
		t.Fatalf("finished before the drop, nothing to resume: %+v", before)
	}

	ln.SetRates(0, 0)
	l2 := add(t, ln, spec)
	resumed := l2.Stats()
	t.Logf("dropped with %d/%d pieces, re-added with %d", before.PiecesComplete, before.Pieces, resumed.PiecesComplete)
	if resumed.PiecesComplete != before.PiecesComplete || resumed.Have != before.Have {
		t.Fatalf("record lost pieces: had %+v, re-added with %+v", before, resumed)
	}
	if h := bytesHashed(l2); h != 0 {
		t.Fatalf("re-add hashed %d bytes; recorded pieces must be trusted", h)
	}
	l2.AddPeers([]string{seedNode.Addr()})
	waitDone(t, ctx, l2)
	st := l2.Stats()
	missing := st.Size - resumed.Have
	t.Logf("refetched %d bytes over BitTorrent of %d missing (file %d)", st.BytesBT, missing, st.Size)
	if st.BytesBT >= st.Size {
		t.Fatalf("refetched the whole file (%d bytes)", st.BytesBT)
	}
	if st.BytesBT > missing+4*src.meta.PieceLen {
		t.Fatalf("refetched %d bytes, only %d were missing", st.BytesBT, missing)
	}
	if hashed := bytesHashed(l2); hashed > missing+4*src.meta.PieceLen {
		t.Fatalf("hashed %d bytes, only %d were missing", hashed, missing)
	}
	checkFile(t, spec.DataPath, src.sha256)
}

func TestMoveWhileSeeding(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	dir := t.TempDir()
	src := makeSource(t, dir, 16*mib, 3)
	seedNode := newNode(t, Config{})
	seed := add(t, seedNode, Spec{Meta: src.meta, DataPath: src.path, CompletionPath: filepath.Join(dir, "seed.pieces"), Complete: true})
	waitDone(t, ctx, seed)

	moved := filepath.Join(dir, "final", "image.img")
	if err := os.MkdirAll(filepath.Dir(moved), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := seed.Move(moved); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(src.path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("old path still there: %v", err)
	}
	if seed.DataPath() != moved {
		t.Fatalf("DataPath %s, want %s", seed.DataPath(), moved)
	}
	checkFile(t, moved, src.sha256)

	fetch := func(name string) {
		n := newNode(t, Config{})
		l := add(t, n, Spec{Meta: src.meta, DataPath: filepath.Join(dir, name, "out.img")})
		l.AddPeers([]string{seedNode.Addr()})
		waitDone(t, ctx, l)
		checkFile(t, l.DataPath(), src.sha256)
	}
	fetch("after-rename")

	// The cross-filesystem path cannot be forced with a rename here; drive it directly.
	copied := filepath.Join(dir, "other-fs", "image.img")
	if err := os.MkdirAll(filepath.Dir(copied), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := seed.st.copyMove(moved, copied); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(moved); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("copied-from path still there: %v", err)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(copied), ".*part*")); len(leftovers) != 0 {
		t.Fatalf("temporary files left: %v", leftovers)
	}
	fetch("after-copy")

	// Dropping with removeData deletes the data where it is now, and the record.
	if err := seed.Drop(true); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{copied, filepath.Join(dir, "seed.pieces")} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s survived Drop(true): %v", p, err)
		}
	}
}

func TestMoveRefusesUnfinished(t *testing.T) {
	dir := t.TempDir()
	src := makeSource(t, dir, 1*mib, 4)
	n := newNode(t, Config{})
	l := add(t, n, Spec{Meta: src.meta, DataPath: filepath.Join(dir, "out.img")})
	if err := l.Move(filepath.Join(dir, "moved.img")); err == nil {
		t.Fatal("moved an unfinished torrent")
	}
}

// listenable reports whether this host can bind ip (Linux routes all of 127/8 to lo; others may not).
func listenable(ip string) bool {
	l, err := net.Listen("tcp4", ip+":0")
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// TestCorruptSeedRejected runs with pieces of one chunk, which are hashed from the buffer that
// wrote them (sums.go), and with pieces of several chunks, which anacrolix reads back.
func TestCorruptSeedRejected(t *testing.T) {
	// anacrolix bans a peer's whole IP after it alone supplied a piece that failed its hash, so
	// the bad and the good seed need addresses of their own.
	if !listenable("127.0.0.2") || !listenable("127.0.0.3") {
		t.Skip("needs 127.0.0.2 and 127.0.0.3")
	}
	dir := t.TempDir()
	one := makeSource(t, dir, 16*mib, 5)
	for _, tc := range []struct {
		name string
		src  source
	}{
		{"one chunk a piece", one},
		{"four chunks a piece", withPieceLen(t, one, 4*ChunkSize)},
	} {
		// Not parallel: both cases use the same two addresses, and a ban is by address.
		t.Run(tc.name, func(t *testing.T) { corruptSeedRejected(t, tc.src) })
	}
}

func corruptSeedRejected(t *testing.T, src source) {
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	dir := t.TempDir()

	bad := src.meta.NumPieces / 2
	badPath := filepath.Join(dir, "corrupt.img")
	corrupt := slices.Clone(src.data)
	off, _ := src.meta.PieceRange(bad)
	corrupt[off+1000] ^= 0xff
	badNode, goodNode := twoSeeds(t, src, badPath, corrupt)

	ln := newNode(t, Config{})
	l := add(t, ln, Spec{Meta: src.meta, DataPath: filepath.Join(dir, "leech", "out.img")})
	l.AddPeers([]string{badNode.Addr()})
	banned := func() bool { return slices.Contains(ln.BannedIPs(), "127.0.0.3") }
	if err := waitFor(ctx, banned); err != nil {
		t.Fatalf("corrupt seed never banned: %+v, banned %v", l.Stats(), ln.BannedIPs())
	}
	select {
	case <-l.Done():
		t.Fatal("leecher finished from a corrupt seed alone")
	default:
	}
	if l.t.PieceState(bad).Complete || !slices.Contains(l.Missing(), bad) {
		t.Fatalf("corrupt piece %d accepted", bad)
	}
	t.Logf("banned corrupt seed with %d/%d pieces", l.Stats().PiecesComplete, src.meta.NumPieces)

	l.AddPeers([]string{goodNode.Addr()})
	waitDone(t, ctx, l)
	checkFile(t, l.DataPath(), src.sha256)
}

// twoSeeds writes corrupt to badPath and seeds it from 127.0.0.3, and src's good copy from
// 127.0.0.2. The corrupt seed is a peer that does not check what it serves (not a dist node, or a
// hostile one): dist's own check before serving (TestSeederNoticesRottenPiece) is off, the
// leecher's defence is tested.
func twoSeeds(t *testing.T, src source, badPath string, corrupt []byte) (bad, good *Node) {
	t.Helper()
	if err := os.WriteFile(badPath, corrupt, 0o644); err != nil {
		t.Fatal(err)
	}
	bad = newNode(t, Config{ListenAddr: "127.0.0.3:0", VerifyAfter: -1})
	add(t, bad, Spec{Meta: src.meta, DataPath: badPath, Complete: true})
	good = newNode(t, Config{ListenAddr: "127.0.0.2:0"})
	add(t, good, Spec{Meta: src.meta, DataPath: src.path, Complete: true})
	return bad, good
}

// TestCorruptPeerAmongGoodBanned has a leecher fetch from a good seed and a corrupt one at once:
// pieces mixing both peers' chunks fail with no one to blame alone, and smart-ban (anacrolix's
// check of what each peer sent against the piece once it is right) must find the corrupt peer.
// Pieces of one chunk only ever have one peer behind them, which is banned when the piece fails.
func TestCorruptPeerAmongGoodBanned(t *testing.T) {
	if !listenable("127.0.0.2") || !listenable("127.0.0.3") {
		t.Skip("needs 127.0.0.2 and 127.0.0.3")
	}
	dir := t.TempDir()
	one := makeSource(t, dir, 16*mib, 8)
	for _, tc := range []struct {
		name string
		src  source
	}{
		{"one chunk a piece", one},
		{"four chunks a piece", withPieceLen(t, one, 4*ChunkSize)},
	} {
		// Not parallel: both cases use the same two addresses, and a ban is by address.
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
			defer cancel()
			src := tc.src
			dir := t.TempDir()
			// Every chunk of the corrupt copy is wrong: whatever it sends spoils a piece.
			corrupt := slices.Clone(src.data)
			for off := 0; off < len(corrupt); off += ChunkSize {
				corrupt[off+7] ^= 0xff
			}
			badNode, goodNode := twoSeeds(t, src, filepath.Join(dir, "corrupt.img"), corrupt)

			ln := newNode(t, Config{})
			l := add(t, ln, Spec{Meta: src.meta, DataPath: filepath.Join(dir, "leech", "out.img")})
			l.AddPeers([]string{badNode.Addr(), goodNode.Addr()})
			waitDone(t, ctx, l)
			checkFile(t, l.DataPath(), src.sha256)
			if !slices.Contains(ln.BannedIPs(), "127.0.0.3") {
				t.Fatalf("corrupt peer not banned: %+v, banned %v", l.Stats(), ln.BannedIPs())
			}
			if slices.Contains(ln.BannedIPs(), "127.0.0.2") {
				t.Fatalf("good peer banned: %v", ln.BannedIPs())
			}
			t.Logf("bad pieces %d", l.Stats().PiecesBad)
		})
	}
}

func TestInjectPieces(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dir := t.TempDir()
	src := makeSource(t, dir, 4*mib+12345, 6)
	n := newNode(t, Config{})
	l := add(t, n, Spec{Meta: src.meta, DataPath: filepath.Join(dir, "a", "out.img")})

	off, ln := src.meta.PieceRange(0)
	wrong := slices.Clone(src.data[off : off+ln])
	wrong[0] ^= 1
	if err := l.InjectPiece(ctx, 0, wrong); !errors.Is(err, ErrPieceMismatch) {
		t.Fatalf("wrong data: err = %v", err)
	}
	if err := l.InjectPiece(ctx, 0, wrong[:10]); err == nil {
		t.Fatal("short data accepted")
	}
	if l.Stats().PiecesComplete != 0 {
		t.Fatal("wrong data counted")
	}
	for _, i := range l.Missing() {
		off, ln := src.meta.PieceRange(i)
		if err := l.InjectPiece(ctx, i, src.data[off:off+ln]); err != nil {
			t.Fatal(err)
		}
	}
	waitDone(t, ctx, l)
	if st := l.Stats(); st.Have != st.Size || st.BytesBT != 0 {
		t.Fatalf("stats after injecting everything: %+v", st)
	}
	checkFile(t, l.DataPath(), src.sha256)

	// Injected pieces are served like any other.
	n2 := newNode(t, Config{})
	l2 := add(t, n2, Spec{Meta: src.meta, DataPath: filepath.Join(dir, "b", "out.img")})
	l2.AddPeers([]string{n.Addr()})
	waitDone(t, ctx, l2)
	checkFile(t, l2.DataPath(), src.sha256)
}

func TestExistingDataIsVerifiedNotFetched(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dir := t.TempDir()
	src := makeSource(t, dir, 8*mib, 7)
	// Half the file arrived some other way (HTTP streaming), with no completion record.
	partial := filepath.Join(dir, "partial.img")
	if err := os.WriteFile(partial, src.data[:4*mib], 0o644); err != nil {
		t.Fatal(err)
	}
	n := newNode(t, Config{})
	l := add(t, n, Spec{Meta: src.meta, DataPath: partial})
	want := int(4 * mib / src.meta.PieceLen)
	if err := waitFor(ctx, func() bool { return l.Stats().PiecesComplete == want && len(l.Missing()) == src.meta.NumPieces-want }); err != nil {
		t.Fatalf("existing pieces not verified: %+v", l.Stats())
	}
	seedNode := newNode(t, Config{})
	add(t, seedNode, Spec{Meta: src.meta, DataPath: src.path, Complete: true})
	l.AddPeers([]string{seedNode.Addr()})
	waitDone(t, ctx, l)
	if st := l.Stats(); st.BytesBT > 4*mib+2*src.meta.PieceLen {
		t.Fatalf("fetched %d bytes though half was there", st.BytesBT)
	}
	checkFile(t, partial, src.sha256)

	// A restart with a record: nothing is hashed again.
	if err := l.Drop(false); err != nil {
		t.Fatal(err)
	}
	l2 := add(t, n, Spec{Meta: src.meta, DataPath: partial})
	waitDone(t, ctx, l2)
	if h := bytesHashed(l2); h != 0 {
		t.Fatalf("restart hashed %d bytes", h)
	}
}

func TestAddRejects(t *testing.T) {
	dir := t.TempDir()
	src := makeSource(t, dir, 1*mib, 8)
	n := newNode(t, Config{})
	ctx := context.Background()
	if _, err := n.Add(ctx, Spec{Meta: content.Meta{Name: "junk"}, DataPath: filepath.Join(dir, "x")}); err == nil {
		t.Error("unparsed metainfo accepted")
	}
	if _, err := n.Add(ctx, Spec{Meta: src.meta}); err == nil {
		t.Error("empty data path accepted")
	}
	if _, err := n.Add(ctx, Spec{Meta: src.meta, DataPath: filepath.Join(dir, "missing"), Complete: true}); err == nil {
		t.Error("Complete over a missing file accepted")
	}
	short := filepath.Join(dir, "short")
	if err := os.WriteFile(short, []byte("abc"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Add(ctx, Spec{Meta: src.meta, DataPath: short, Complete: true}); err == nil {
		t.Error("Complete over a file of the wrong size accepted")
	}
	// Failed adds leave nothing behind: a proper add still works.
	l := add(t, n, Spec{Meta: src.meta, DataPath: src.path, Complete: true})
	if l.InfoHash() != src.meta.InfoHash {
		t.Fatalf("info hash %s, want %s", l.InfoHash(), src.meta.InfoHash)
	}
}

func TestRecordIgnoresOtherTorrent(t *testing.T) {
	dir := t.TempDir()
	a := makeSource(t, dir, 1*mib, 9)
	if err := os.Mkdir(filepath.Join(dir, "b"), 0o755); err != nil {
		t.Fatal(err)
	}
	b := makeSource(t, filepath.Join(dir, "b"), 1*mib, 10)
	n := newNode(t, Config{})
	rec := filepath.Join(dir, "shared.pieces")
	l := add(t, n, Spec{Meta: a.meta, DataPath: a.path, CompletionPath: rec, Complete: true})
	if err := l.Drop(false); err != nil {
		t.Fatal(err)
	}
	// Same record path, other torrent, fresh data file: nothing may be taken as complete.
	l2 := add(t, n, Spec{Meta: b.meta, DataPath: filepath.Join(dir, "b-out.img"), CompletionPath: rec})
	if st := l2.Stats(); st.PiecesComplete != 0 {
		t.Fatalf("record of another torrent trusted: %+v", st)
	}
}

func TestAddPeersSkipsSelfAndJunk(t *testing.T) {
	dir := t.TempDir()
	src := makeSource(t, dir, 1*mib, 11)
	n := newNode(t, Config{})
	l := add(t, n, Spec{Meta: src.meta, DataPath: filepath.Join(dir, "o.img")})
	l.AddPeers([]string{n.Addr(), n.Addr(), "nonsense", "1.2.3.4:0", "[::1]:bad"})
	if got := l.t.KnownSwarm(); len(got) != 0 {
		t.Fatalf("peers added: %v", got)
	}
}

// bytesHashed is how much data anacrolix has hashed for t.
func bytesHashed(t *Torrent) int64 {
	st := t.t.Stats()
	return st.BytesHashed.Int64()
}

func TestDropAfterNodeClose(t *testing.T) {
	dir := t.TempDir()
	src := makeSource(t, dir, 1*mib, 12)
	n, err := New(Config{ListenAddr: "127.0.0.1:0", Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "o.img")
	l := add(t, n, Spec{Meta: src.meta, DataPath: out})
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Add(context.Background(), Spec{Meta: src.meta, DataPath: out}); err == nil {
		t.Fatal("Add on a closed node accepted")
	}
	if err := l.Drop(true); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{out, out + ".pieces"} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s survived Drop(true) after Close: %v", p, err)
		}
	}
}

func TestRateLimits(t *testing.T) {
	l := newLimiter(0)
	if l.Limit() != rate.Inf || l.Burst() < minBurst {
		t.Fatalf("unlimited: limit %v burst %d", l.Limit(), l.Burst())
	}
	setLimit(l, 100<<10)
	if l.Limit() != rate.Limit(100<<10) || l.Burst() != minBurst {
		t.Fatalf("100 KiB/s: limit %v burst %d", l.Limit(), l.Burst())
	}
	// A finite upload limiter refuses requests longer than its burst: a slow one still takes a chunk.
	if l.Burst() < ChunkSize || maxPeerRequestData < ChunkSize {
		t.Fatalf("100 KiB/s: burst %d, peer request data %d, below a chunk of %d", l.Burst(), maxPeerRequestData, ChunkSize)
	}
	setLimit(l, 1<<30)
	if l.Burst() != 1<<30/burstPerSecond {
		t.Fatalf("1 GiB/s: burst %d, want %d (a short span of traffic)", l.Burst(), 1<<30/burstPerSecond)
	}
	setLimit(l, 0)
	if l.Limit() != rate.Inf {
		t.Fatalf("back to unlimited: limit %v", l.Limit())
	}
}

func TestEmptyFile(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	dir := t.TempDir()
	src := makeSource(t, dir, 0, 13)
	n := newNode(t, Config{})
	l := add(t, n, Spec{Meta: src.meta, DataPath: filepath.Join(dir, "o.img")})
	waitDone(t, ctx, l)
	if st := l.Stats(); st.Size != 0 || st.Pieces != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestSeederNoticesRottenPiece: a seed whose file rotted after it was verified (here: restarted
// over a file with one flipped byte, trusted from its record) hashes each piece again before it
// serves it, refuses the rotten one, and fetches it again; the leecher still ends with the right
// file from an honest seed.
func TestSeederNoticesRottenPiece(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	dir := t.TempDir()
	src := makeSource(t, dir, 4*mib, 31)
	rotPath := filepath.Join(dir, "rotten.img")
	data := append([]byte(nil), src.data...)
	const bad = 5
	data[bad*int(src.meta.PieceLen)+100] ^= 0x01
	if err := os.WriteFile(rotPath, data, 0o644); err != nil {
		t.Fatal(err)
	}
	rotNode := newNode(t, Config{})
	rot := add(t, rotNode, Spec{Meta: src.meta, DataPath: rotPath, Complete: true})

	leechNode := newNode(t, Config{})
	leech := add(t, leechNode, Spec{Meta: src.meta, DataPath: filepath.Join(dir, "leech.img")})
	leech.AddPeers([]string{rotNode.Addr()})
	if err := waitFor(ctx, func() bool { return rot.Stats().PiecesRotten > 0 }); err != nil {
		t.Fatalf("the seed never noticed its rotten piece: %+v", rot.Stats())
	}
	if rot.HasPiece(bad) {
		t.Fatal("the rotten piece is still offered")
	}
	if leech.Stats().PiecesBad != 0 {
		t.Fatalf("the leecher received bad data: %+v", leech.Stats())
	}
	// An honest seed comes: the leecher completes, and the rotted seed repairs itself.
	goodNode := newNode(t, Config{})
	add(t, goodNode, Spec{Meta: src.meta, DataPath: src.path, Complete: true})
	leech.AddPeers([]string{goodNode.Addr()})
	rot.AddPeers([]string{goodNode.Addr()})
	waitDone(t, ctx, leech)
	checkFile(t, leech.DataPath(), src.sha256)
	if err := waitFor(ctx, func() bool { return rot.HasPiece(bad) }); err != nil {
		t.Fatalf("the rotted seed did not fetch its piece again: %+v", rot.Stats())
	}
	checkFile(t, rotPath, src.sha256)
}

// Every piece a leecher takes from peers is timed once, from its first chunk to its hash; a piece
// handed in with InjectPiece is not.
func TestPiecesFromPeersAreTimed(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	dir := t.TempDir()
	src := makeSource(t, dir, 8*mib, 3)
	seedNode := newNode(t, Config{})
	seed := add(t, seedNode, Spec{Meta: src.meta, DataPath: src.path, Complete: true})
	var timed atomic.Int64
	n := newNode(t, Config{})
	l := add(t, n, Spec{Meta: src.meta, DataPath: filepath.Join(dir, "leecher", "out.img"),
		PieceTime: func(d time.Duration) {
			if d > 0 {
				timed.Add(1)
			}
		}})
	data, err := os.ReadFile(src.path)
	if err != nil {
		t.Fatal(err)
	}
	off, size := src.meta.PieceRange(0)
	if err := l.InjectPiece(ctx, 0, data[off:off+size]); err != nil {
		t.Fatal(err)
	}
	l.AddPeers([]string{seedNode.Addr()})
	seed.AddPeers([]string{n.Addr()})
	waitDone(t, ctx, l)
	if got, want := timed.Load(), int64(src.meta.NumPieces-1); got != want {
		t.Errorf("%d pieces timed, want %d: every piece from peers once, the injected one not", got, want)
	}
}
