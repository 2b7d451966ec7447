package daemon_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/mse"
	pp "github.com/anacrolix/torrent/peer_protocol"

	"dist/core/api"
	"dist/core/content"
	"dist/core/pki"
	"dist/daemon/demo/origin"
)

// TestAttacksByAFleetHost runs a fleet over TLS and lets a host with a valid certificate of the
// fleet, evil-1, which takes no part in the push, try every attack of the trust review while the
// push runs: each is refused, and the distribution completes with every copy verified and
// nothing in the store that evil-1 changed.
func TestAttacksByAFleetHost(t *testing.T) {
	t.Parallel()
	const size = 8 << 20
	ctx, cancel := context.WithTimeout(context.Background(), 55*time.Second)
	defer cancel()
	f, clients := relayFleet(ctx, t, 2)
	base := f.ctrl.HTTPURL()

	evilID, err := joinAs(ctx, base, f.admin.HTTP, hostToken, "evil-1", filepath.Join(f.dir, "evil-1-tls"))
	if err != nil {
		t.Fatalf("join evil-1: %v", err)
	}
	evil := api.New(base, "")
	evil.HTTP = &http.Client{Transport: api.NewTransport(&http.Transport{TLSClientConfig: evilID.ControllerConfig()})}
	// evil-1 as a peer of the fleet's hosts, and a caller with no certificate at all.
	evilPeer := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: evilID.PeerConfig()}}
	noCert := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	// client-2 is a member: the same requests with its certificate show the routes do serve.
	memberID, err := pki.LoadIdentity(filepath.Join(f.dir, "client-2", "tls"))
	if err != nil {
		t.Fatalf("client-2 identity: %v", err)
	}
	strangers := []struct {
		name string
		hc   *http.Client
	}{{"evil-1", evilPeer}, {"no certificate", noCert}}
	member := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: memberID.PeerConfig()}}
	victimID, err := pki.LoadIdentity(filepath.Join(f.dir, "client-1", "tls"))
	if err != nil {
		t.Fatalf("client-1 identity: %v", err)
	}
	victim := api.New(base, "")
	victim.HTTP = &http.Client{Transport: api.NewTransport(&http.Transport{TLSClientConfig: victimID.ControllerConfig()})}

	hostsBefore := hostsByName(ctx, t, f)
	// Slow enough that the relay is still pulling while the first attacks run.
	org, d, sum := pushURL(ctx, t, f, size, origin.Options{Rate: 1 << 20})
	if d.Targets != len(clients) {
		t.Fatalf("push has %d targets, want the %d clients (evil-1 is no target)", d.Targets, len(clients))
	}
	task1 := api.AssignmentID(d.ID, "client-1", api.RoleClient)
	relayURL, victimURL := f.daemons["relay-1"].HTTPURL(), f.daemons["client-1"].HTTPURL()

	// The relay pulls under a lease: the attacks on leases need one to aim at.
	relayLease := waitLease(ctx, t, f, org.URL(), "relay-1")

	// Forged metainfo of the right size, so that only the authorization can refuse it.
	pieceLen := d.PieceLength
	if pieceLen == 0 {
		pieceLen = content.PieceLength(size)
	}
	// An early take carries the taker's have bitmap: one bit per piece.
	haveLen := (int((size+pieceLen-1)/pieceLen) + 7) / 8
	forgedPieces := make([]byte, 20*int((size+pieceLen-1)/pieceLen))
	_, _ = rand.Read(forgedPieces)
	forged, forgedHash, err := content.Build("src.img", size, pieceLen, forgedPieces)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("while the relay pulls", func(t *testing.T) {
		t.Run("impersonate", func(t *testing.T) {
			t.Parallel()
			for _, h := range []api.Host{
				{Name: "client-1", Roles: []api.Role{api.RoleClient}, HTTPURL: "https://127.0.0.1:1", BTAddr: "127.0.0.1:1"},
				{Name: "relay-1", Roles: []api.Role{api.RoleRelay}, HTTPURL: "https://127.0.0.1:1", BTAddr: "127.0.0.1:1"},
			} {
				if got := statusOf(evil.Register(ctx, h)); got != http.StatusForbidden {
					t.Errorf("evil-1 registering as %s: %d, want 403", h.Name, got)
				}
			}
			if _, err := evil.Watch(ctx, "client-1", ""); statusOf(err) != http.StatusForbidden {
				t.Errorf("evil-1 watching as client-1: %d (%v), want 403", statusOf(err), err)
			}
		})

		t.Run("false report", func(t *testing.T) {
			t.Parallel()
			for _, rep := range []api.Report{
				{Host: "client-1", Tasks: []api.TaskReport{{ID: task1, State: api.TaskFailed, Error: "disk on fire"}}},
				{Host: "client-1", Tasks: []api.TaskReport{{ID: task1, State: api.TaskDone, Have: size}}},
				// Its own name, another's task.
				{Host: "evil-1", Tasks: []api.TaskReport{{ID: task1, State: api.TaskFailed}}},
			} {
				if got := statusOf(evil.Report(ctx, rep)); got != http.StatusForbidden {
					t.Errorf("evil-1 reporting %s %s as %s: %d, want 403", rep.Tasks[0].ID, rep.Tasks[0].State, rep.Host, got)
				}
			}
		})

		t.Run("metainfo race", func(t *testing.T) {
			t.Parallel()
			if got := statusOf(evil.PutMetainfo(ctx, d.ID, forged)); got != http.StatusForbidden {
				t.Errorf("evil-1 publishing metainfo of %s: %d, want 403 (only the assigned relay publishes)", d.ID, got)
			}
			if now, err := f.admin.Distribution(ctx, d.ID); err == nil {
				t.Logf("metainfo published before the race: %v", now.InfoHash != "")
			}
		})

		t.Run("lease theft", func(t *testing.T) {
			t.Parallel()
			random := make([]byte, 16)
			_, _ = rand.Read(random)
			for _, id := range []string{relayLease.ID, hex.EncodeToString(random)} {
				ans, err := evil.RenewLease(ctx, id, api.LeaseRenew{Used: 1 << 62})
				if st := statusOf(err); st != http.StatusForbidden && (err != nil || ans.Granted || !ans.Lost) {
					t.Errorf("evil-1 renewing lease %s: %d %+v, want 403 or lost", id, st, ans)
				}
				if st := statusOf(evil.ReleaseLease(ctx, id, 1<<62)); st != http.StatusForbidden && st != http.StatusOK {
					t.Errorf("evil-1 releasing lease %s: %d, want 403 or a no-op", id, st)
				}
			}
			for _, holder := range []string{"relay-1", "relay-1/relay", "client-1"} {
				_, err := evil.AcquireLease(ctx, api.LeaseRequest{Origin: org.URL(), Holder: holder, Relay: true, Priority: 100})
				if got := statusOf(err); got != http.StatusForbidden {
					t.Errorf("evil-1 taking a lease for holder %s: %d, want 403", holder, got)
				}
			}
			// A lease id the thief learnt by any means: the id is no credential, the holder is.
			by := f.hostClient(ctx, "bystander-1")
			own, err := by.AcquireLease(ctx, api.LeaseRequest{Origin: org.URL(), Holder: "bystander-1"})
			if err != nil || !own.Granted {
				t.Fatalf("bystander-1's own lease: %+v, %v", own, err)
			}
			if _, err := evil.RenewLease(ctx, own.Lease.ID, api.LeaseRenew{Used: 1 << 62}); statusOf(err) != http.StatusForbidden {
				t.Errorf("evil-1 renewing bystander-1's lease: %d (%v), want 403", statusOf(err), err)
			}
			if err := evil.ReleaseLease(ctx, own.Lease.ID, 1<<62); statusOf(err) != http.StatusForbidden {
				t.Errorf("evil-1 releasing bystander-1's lease: %d (%v), want 403", statusOf(err), err)
			}
			again, err := by.RenewLease(ctx, own.Lease.ID, api.LeaseRenew{})
			if err != nil || !again.Granted || again.Lease.ID != own.Lease.ID {
				t.Errorf("bystander-1's lease after the theft: %+v, %v, want still granted under its id", again, err)
			}
			if err := by.ReleaseLease(ctx, own.Lease.ID, 0); err != nil {
				t.Errorf("bystander-1 releasing its lease: %v", err)
			}
			// No reported byte count of evil-1 was spent on the origin's budget.
			if ost, err := f.admin.Origins(ctx, org.URL()); err != nil || len(ost) != 1 || ost[0].Spent > 4*size {
				t.Errorf("origin status after the theft: %+v, %v, want at most %d bytes spent", ost, err, 4*size)
			}
		})

		t.Run("content without membership", func(t *testing.T) {
			t.Parallel()
			routes := []struct{ name, method, url string }{
				{"relay content", http.MethodGet, relayURL + api.ContentPath(d.ID)},
				{"relay early hashes", http.MethodGet, relayURL + "/v1/early/" + d.ID + "/hashes?from=0"},
				{"relay early take", http.MethodPost, relayURL + "/v1/early/" + d.ID + "/take"},
				{"client-1 early have", http.MethodGet, victimURL + "/v1/early/" + d.ID + "/have?v=0"},
				{"client-1 early piece", http.MethodGet, victimURL + "/v1/early/" + d.ID + "/piece/0"},
			}
			for _, rt := range routes {
				for _, who := range strangers {
					if st, n, err := fetchRoute(ctx, who.hc, rt.method, rt.url, haveLen); !refused(st, err) || n > 0 {
						t.Errorf("%s: %s %s answered %d with %d body bytes (%v), want 401/403 and no bytes", who.name, rt.method, rt.url, st, n, err)
					}
				}
			}
			// The same routes serve a member: a refusal above is the membership's, not the route's.
			for _, u := range []string{relayURL + api.ContentPath(d.ID), victimURL + "/v1/early/" + d.ID + "/have?v=0"} {
				if st, n, err := fetchRoute(ctx, member, http.MethodGet, u, 0); err != nil || st/100 != 2 || n == 0 {
					t.Errorf("member client-2: GET %s answered %d, %d bytes, %v", u, st, n, err)
				}
			}
		})
	})

	// The metainfo is the relay's, published when its pull ended.
	full := waitMetainfo(ctx, t, f, d.ID)
	metaSum := sha256.Sum256(full.Metainfo)
	msum := hex.EncodeToString(metaSum[:])
	if w, err := victim.Watch(ctx, "client-1", ""); err == nil {
		for _, tk := range w.Tasks {
			if tk.DistID == d.ID && tk.MetainfoSHA256 != "" && tk.MetainfoSHA256 != msum {
				t.Errorf("client-1's watch names metainfo %s, the controller stores %s", tk.MetainfoSHA256, msum)
			}
		}
	} else {
		t.Errorf("client-1 watching as itself: %v", err)
	}

	t.Run("once the metainfo is out", func(t *testing.T) {
		t.Run("metainfo by sum", func(t *testing.T) {
			t.Parallel()
			if _, err := victim.Metainfo(ctx, msum); err != nil {
				t.Errorf("client-1 reading its own metainfo: %v", err)
			}
			if _, err := evil.Metainfo(ctx, msum); statusOf(err) != http.StatusForbidden {
				t.Errorf("evil-1 reading metainfo %s from the controller: %d (%v), want 403", msum, statusOf(err), err)
			}
			for _, host := range []string{relayURL, victimURL} {
				u := host + api.PeerMetainfoPath + msum
				for _, who := range strangers {
					if st, n, err := fetchRoute(ctx, who.hc, http.MethodGet, u, 0); !refused(st, err) || n > 0 {
						t.Errorf("%s: GET %s answered %d with %d body bytes (%v), want 401/403", who.name, u, st, n, err)
					}
				}
			}
		})

		t.Run("bittorrent without membership", func(t *testing.T) {
			t.Parallel()
			hs, err := f.admin.Hosts(ctx)
			if err != nil {
				t.Fatal(err)
			}
			realHash, err := hex.DecodeString(full.InfoHash)
			if err != nil || len(realHash) != 20 {
				t.Fatalf("info hash %q: %v", full.InfoHash, err)
			}
			random := make([]byte, 20)
			_, _ = rand.Read(random)
			dialled := 0
			for _, h := range hs {
				if h.Name != "client-1" && h.Name != "relay-1" {
					continue
				}
				dialled++
				if h.Name == "relay-1" {
					// A member's way in, proving the relay's torrent is open: the refusals below are
					// the handshake's, not an unknown torrent's.
					if err := mseHandshake(ctx, h.BTAddr, realHash); err != nil {
						t.Errorf("MSE handshake with the info hash at relay-1 %s: %v", h.BTAddr, err)
					}
				}
				for _, ih := range []struct {
					name string
					hash []byte
				}{{"the real info hash", realHash}, {"a random info hash", random}} {
					if got := plainHandshake(ctx, t, h.BTAddr, ih.hash); bytes.HasPrefix(got, []byte(btProtocol)) ||
						(len(got) > 0 && bytes.HasPrefix([]byte(btProtocol), got)) {
						t.Errorf("%s at %s answered a plaintext handshake with %s: %q", h.Name, h.BTAddr, ih.name, got)
					}
				}
			}
			if dialled != 2 {
				t.Errorf("dialled %d of relay-1 and client-1 from the controller's host list", dialled)
			}
		})
	})

	end := f.waitEnded(ctx, d.ID)
	if end.State != api.DistComplete {
		t.Fatalf("distribution ended %s under attack, want complete: %+v", end.State, end.Assignments)
	}
	verifyCopies(ctx, t, f, clients, sum)
	// A finished copy is served to members only.
	u := victimURL + api.ContentPath(d.ID)
	if st, n, err := fetchRoute(ctx, member, http.MethodGet, u, 0); err != nil || st/100 != 2 || n == 0 {
		t.Logf("member client-2: GET %s answered %d, %d bytes, %v: the finished copy is no longer served", u, st, n, err)
	}
	for _, who := range strangers {
		if st, n, err := fetchRoute(ctx, who.hc, http.MethodGet, u, 0); !refused(st, err) || n > 0 {
			t.Errorf("%s: GET %s (a finished copy) answered %d with %d body bytes (%v), want 401/403", who.name, u, st, n, err)
		}
	}

	// Nothing evil-1 did stayed in the store.
	for _, a := range end.Assignments {
		if a.Host == "evil-1" {
			t.Errorf("evil-1 got an assignment: %+v", a)
		}
		if a.Host == "client-1" && (a.State != api.TaskDone || a.Error != "") {
			t.Errorf("client-1's assignment %s %q, want done with no error", a.State, a.Error)
		}
	}
	if end.InfoHash == forgedHash {
		t.Fatalf("the distribution carries evil-1's forged metainfo %s", forgedHash)
	}
	checkMetainfoOf(t, full.Metainfo, filepath.Join(f.dir, "src.img"), sum)
	if end.InfoHash != full.InfoHash {
		t.Errorf("info hash changed from the relay's %s to %s", full.InfoHash, end.InfoHash)
	}
	after := hostsByName(ctx, t, f)
	for _, name := range []string{"relay-1", "client-1", "client-2"} {
		b, a := hostsBefore[name], after[name]
		if a.HTTPURL != b.HTTPURL || a.BTAddr != b.BTAddr || !slices.Equal(a.Roles, b.Roles) {
			t.Errorf("host %s changed: %+v → %+v", name, b, a)
		}
	}
}

const btProtocol = "\x13BitTorrent protocol"

// plainHandshake dials addr, sends a plaintext BitTorrent handshake for info hash ih and answers
// what came back before the peer closed or 3 s passed.
func plainHandshake(ctx context.Context, t *testing.T, addr string, ih []byte) []byte {
	t.Helper()
	var dl net.Dialer
	c, err := dl.DialContext(ctx, "tcp", addr)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	msg := append([]byte(btProtocol), make([]byte, 8)...)
	msg = append(msg, ih...)
	msg = append(msg, []byte("-XX0000-evil-1-00000")...)
	if _, err := c.Write(msg); err != nil {
		return nil // closed at once: refused
	}
	got, _ := io.ReadAll(io.LimitReader(c, int64(len(msg))))
	return got
}

// mseHandshake opens a BitTorrent connection to addr for info hash ih as a member does: MSE with
// the info hash as its secret, then the BitTorrent handshake, which must name ih.
func mseHandshake(ctx context.Context, addr string, ih []byte) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var dl net.Dialer
	c, err := dl.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	rw, _, err := mse.InitiateHandshakeContext(ctx, c, ih, nil, mse.AllSupportedCrypto)
	if err != nil {
		return fmt.Errorf("mse handshake: %w", err)
	}
	var want metainfo.Hash
	copy(want[:], ih)
	var id [20]byte
	copy(id[:], "-XX0000-member-00000")
	res, err := pp.Handshake(ctx, rw, &want, id, pp.PeerExtensionBits{})
	if err != nil {
		return fmt.Errorf("bittorrent handshake: %w", err)
	}
	if res.Hash != want {
		return fmt.Errorf("handshake answered info hash %x, want %x", res.Hash, want)
	}
	return nil
}

// fetchRoute sends method to u (a POST with a zero body of bodyLen bytes) and answers the status
// and how many body bytes came (up to 1 MiB).
func fetchRoute(ctx context.Context, hc *http.Client, method, u string, bodyLen int) (int, int64, error) {
	var body io.Reader
	if method == http.MethodPost {
		body = bytes.NewReader(make([]byte, bodyLen))
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return 0, 0, err
	}
	req.Header.Set("Range", "bytes=0-65535")
	resp, err := hc.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return resp.StatusCode, 0, nil
	}
	n, err := io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if errors.Is(err, context.DeadlineExceeded) || (err != nil && strings.Contains(err.Error(), "Client.Timeout")) {
		err = nil // a long poll cut by the client's timeout: n is what came
	}
	return resp.StatusCode, n, err
}

// refused: a 401 or 403 answer, or no TLS session at all.
func refused(status int, err error) bool {
	if err != nil {
		return status == 0
	}
	return status == http.StatusUnauthorized || status == http.StatusForbidden
}

// waitLease polls the controller's origin status until holder holds a lease on source's origin.
func waitLease(ctx context.Context, t *testing.T, f *fleet, source, holder string) api.Lease {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if ost, err := f.admin.Origins(ctx, source); err == nil {
			for _, o := range ost {
				for _, l := range o.Leases {
					if l.Holder == holder {
						return l
					}
				}
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s holds no lease on %s", holder, source)
		case <-tick.C:
		}
	}
}

// waitMetainfo polls the distribution until its metainfo is published.
func waitMetainfo(ctx context.Context, t *testing.T, f *fleet, id string) api.Distribution {
	t.Helper()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if d, err := f.admin.Distribution(ctx, id); err == nil && d.InfoHash != "" && len(d.Metainfo) > 0 {
			return d
		}
		select {
		case <-ctx.Done():
			t.Fatalf("distribution %s: no metainfo published", id)
		case <-tick.C:
		}
	}
}

// checkMetainfoOf fails unless mi describes the file at path: every piece hash and the SHA-256.
func checkMetainfoOf(t *testing.T, mi []byte, path, sum string) {
	t.Helper()
	m, err := content.Parse(mi)
	if err != nil {
		t.Fatalf("stored metainfo: %v", err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if m.Size != int64(len(data)) || (m.SHA256 != "" && m.SHA256 != sum) {
		t.Fatalf("stored metainfo: %d bytes sha256 %q, want %d bytes %s", m.Size, m.SHA256, len(data), sum)
	}
	for i := range m.NumPieces {
		off, n := m.PieceRange(i)
		if h := sha1.Sum(data[off : off+n]); !bytes.Equal(h[:], m.Pieces[20*i:20*i+20]) {
			t.Fatalf("stored metainfo: piece %d hash is not the file's: not the relay's metainfo", i)
		}
	}
}

func hostsByName(ctx context.Context, t *testing.T, f *fleet) map[string]api.Host {
	t.Helper()
	hs, err := f.admin.Hosts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]api.Host{}
	for _, h := range hs {
		out[h.Name] = h
	}
	return out
}
