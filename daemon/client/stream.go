package client

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"dist/core/api"
	"dist/core/content"
	"dist/core/hybrid"
	"dist/core/swarm"
	"dist/daemon/early"
	"dist/daemon/task"
)

// exchangeBeforeMetainfo takes part in the early exchange while the metainfo is unknown (a relay
// is still hashing a URL source) or a relay still pulls a published file (relayPulls): the client takes its stripe of pieces from the relay over HTTP,
// fetches the rest from its peers, and serves what it holds to them, every piece checked against
// the relay's hash before it is written into the partial file the torrent will use and recorded,
// with its hash, in the piece record. It goes on after the metainfo arrives until every piece is
// here or the exchange stalls; then the record is bound to the metainfo (the pieces whose hashes
// match stay complete) and the torrent fetches only the rest. A restarted client goes on from the
// pieces it recorded. The member keeps serving until the task ends, reading from the torrent once
// there is one. When every piece came through the exchange it answers the file's SHA-256,
// computed in file order as the pieces landed, so the end check needs no second pass.
func (c *Client) exchangeBeforeMetainfo(ctx context.Context, t *task.Task) (sum string) {
	reg := c.cfg.Early
	spec := t.Spec()
	size := spec.Size
	if size <= 0 || reg == nil || !relayPulls(ctx, t) {
		return
	}
	log := t.Log()
	if err := os.MkdirAll(t.Dir(), 0o755); err != nil {
		log.Warn("no exchange before metainfo", "err", fmt.Errorf("task directory %s: %w", t.Dir(), err))
		return
	}
	part := partPath(t)
	f, err := os.OpenFile(part, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		log.Warn("no exchange before metainfo", "err", fmt.Errorf("partial file %s: %w", part, err))
		return
	}
	src := &memberFile{t: t, f: f}
	defer src.close()
	if err := f.Truncate(size); err != nil {
		log.Warn("no exchange before metainfo", "err", fmt.Errorf("partial file %s: %w", part, err))
		return
	}
	pieceLen := spec.PieceLen
	if pieceLen <= 0 {
		pieceLen = content.PieceLength(size)
	}
	n := int((size + pieceLen - 1) / pieceLen)
	rec, err := swarm.OpenRecord(log, recordPath(t), n, [sha1.Size]byte{}, f.Sync)
	if err != nil {
		log.Warn("no exchange before metainfo", "err", err)
		return
	}
	defer rec.Close()
	var pace func(context.Context, int) error
	if node := t.Env().Node; node != nil {
		pace = node.PaceUpload // one upload budget with BitTorrent (--bt-upload-rate)
	}
	m := early.NewMember(size, pieceLen, early.Paced(pace, src), &t.HTTPUp)
	had := int64(0)
	for i := range n {
		if rec.Complete(i) {
			m.Add(i)
			had += min(pieceLen, size-int64(i)*pieceLen)
		}
	}
	if had > 0 {
		t.Have.Store(had)
		log.Info("exchange resumes", "have", had, "size", size)
	}
	drop := reg.AddMember(spec.DistID, m)
	t.Go(func() { <-ctx.Done(); drop() }) // it serves its peers until the task ends
	fe := &early.Fetch{
		Reg: reg, ID: spec.DistID, Size: size, PieceLen: pieceLen, File: f, Member: m,
		Hash:   rec.Hash,
		Landed: func(i int, h [sha1.Size]byte) { rec.MarkComplete(i, h[:]) },
		Sources: func() (string, []string, <-chan struct{}) {
			peers, ch := t.Peers().List()
			relay, others, ch := exchangeSources(peers, ch)
			if t.Env().BTBlocked {
				others = nil // a network that blocks peer-to-peer: the relay alone
			}
			return relay, others, ch
		},
		HTTP:      t.Env().Pull,
		FromRelay: &t.HTTPRelay, FromPeers: &t.HTTPPeers, Bad: &t.HTTPBadPieces,
		OnPiece: func(n int64, fromRelay bool, took time.Duration) {
			src := api.SourceHTTPPeer
			if fromRelay {
				src = api.SourceHTTPRelay
			}
			t.Env().PieceFetched(src, took)
			t.Have.Add(n)
			t.MarkFirstByte()
			t.SetStateIf(api.TaskWaiting, api.TaskDownloading)
		},
		Known: t.MetaKnown(),
		Log:   log.With("role", "early"),
	}
	if bps := t.Settings().MaxSpeed; bps > 0 {
		fe.Limit = rate.NewLimiter(rate.Limit(bps), int(max(bps, 64<<10)))
	}
	sctx, stopSum := context.WithCancel(ctx)
	defer stopSum()
	sumc := make(chan string, 1)
	go func() { sumc <- sumInOrder(sctx, m, src, size, pieceLen) }()
	why := "no metainfo yet: a stripe from the relay, the rest from peers, over http"
	select {
	case <-t.MetaKnown():
		why = "the relay still pulls: a stripe from the relay, the rest from peers, over http"
	default:
	}
	t.SetMode(hybrid.ModeExchange, why, true, time.Now())
	err = fe.Run(ctx)
	switch {
	case err == nil:
		log.Info("every piece came before the torrent", "from_relay", t.HTTPRelay.Load(), "from_peers", t.HTTPPeers.Load())
		sum = <-sumc
	case early.IsStalled(err):
		stopSum()
		log.Info("exchange hands over to bittorrent", "have", t.Have.Load(), "size", size)
	case errors.Is(err, early.ErrWrite):
		stopSum()
		log.Warn("exchange stopped", "err", err)
	default:
		return "" // the task ends; the record keeps what came for the next run
	}
	meta, err := t.Meta(ctx)
	if err != nil {
		return ""
	}
	if meta.Size != size || meta.PieceLen != pieceLen {
		log.Warn("exchanged pieces not kept, they are fetched again",
			"err", fmt.Errorf("metainfo cuts %d bytes in pieces of %d, the exchange %d in pieces of %d", meta.Size, meta.PieceLen, size, pieceLen))
		return ""
	}
	rec.Flush()
	kept, err := rec.Bind(meta)
	if err != nil {
		log.Warn("exchanged pieces not recorded, they are hashed again", "err", err)
		return ""
	}
	log.Debug("exchanged pieces kept", "pieces", kept)
	if kept != n {
		return "" // some pieces did not match the metainfo: the torrent fetches them, the end check reads all
	}
	return sum
}

// sumInOrder hashes the file in order as its pieces land, "" when ctx ends first.
func sumInOrder(ctx context.Context, m *early.Member, f io.ReaderAt, size, pieceLen int64) string {
	h := sha256.New()
	buf := make([]byte, min(pieceLen, 4<<20))
	n := int((size + pieceLen - 1) / pieceLen)
	for i := range n {
		if m.Wait(ctx, i) != nil {
			return ""
		}
		off := int64(i) * pieceLen
		end := min(off+pieceLen, size)
		for off < end {
			k, err := f.ReadAt(buf[:min(int64(len(buf)), end-off)], off)
			if k <= 0 || (err != nil && !errors.Is(err, io.EOF)) {
				return ""
			}
			h.Write(buf[:k])
			off += int64(k)
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// relayPulls reports whether the exchange has a source to start from: always while the metainfo
// is unknown (a relay is hashing a URL source), and for a published file while a relay of the
// distribution is still pulling it, so that the relay sends each byte about once and the
// publisher only feeds the relay. A client that comes after the pull, or a distribution without
// a relay, goes to BitTorrent at once.
func relayPulls(ctx context.Context, t *task.Task) bool {
	select {
	case <-t.MetaKnown():
	default:
		return true
	}
	wctx, cancel := context.WithTimeout(ctx, peersWait)
	defer cancel()
	peers, err := t.Peers().Wait(wctx)
	if err != nil {
		return false
	}
	for _, p := range peers {
		if p.Relay && !p.Complete && p.HTTPURL != "" {
			return true
		}
	}
	return false
}

// peersWait bounds how long a client with the metainfo waits for the tracker's first answer
// before it decides between the exchange and BitTorrent.
const peersWait = 3 * time.Second

// exchangeSources answers the relay a client takes its stripe from (the first the tracker lists)
// and the other members' HTTP base URLs.
func exchangeSources(peers []api.Peer, ch <-chan struct{}) (string, []string, <-chan struct{}) {
	relay := ""
	var others []string
	for _, p := range peers {
		if p.HTTPURL == "" {
			continue
		}
		u := strings.TrimRight(p.HTTPURL, "/")
		if p.Relay {
			if relay == "" {
				relay = u
			}
			continue
		}
		others = append(others, u)
	}
	return relay, others, ch
}

// memberFile is what a client's member reads: the partial file during the exchange, the torrent
// once there is one.
type memberFile struct {
	t  *task.Task
	mu sync.RWMutex
	f  *os.File
}

func (m *memberFile) ReadAt(b []byte, off int64) (int, error) {
	if tor := m.t.Torrent(); tor != nil {
		return tor.ReadAt(b, off)
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.f == nil {
		return 0, errNotOpen
	}
	return m.f.ReadAt(b, off)
}

func (m *memberFile) close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.f != nil {
		m.f.Close()
		m.f = nil
	}
}

// errNotOpen is a piece asked for between the exchange and the torrent.
var errNotOpen = errors.New("partial file closed: the torrent opens it next")
