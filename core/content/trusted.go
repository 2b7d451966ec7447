package content

import (
	"context"
	"crypto/sha256"
	"encoding"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/anacrolix/torrent/bencode"

	"dist/core/atomicfile"
)

// Trusted mode (dist push --trusted) changes how a target checks its copy once every piece is
// there, nothing else:
//
//   - normal: the whole-file SHA-256 is read through the torrent, which hashes again (SHA-1) every
//     piece not hashed in this process within the node's VerifyAfter before it hands its bytes
//     out. After a restart, or a download longer than VerifyAfter, that is a second full pass of
//     piece hashing folded into the end check.
//   - trusted: the end check reads the stored bytes once, in order, and computes the SHA-256
//     alone (ResumableSHA256); a crash during it resumes from its last saved state. When it
//     matches, every piece counts as freshly verified, so serving does not hash them again for
//     VerifyAfter. When it does not, a per-piece pass finds the bad pieces and BitTorrent fetches
//     them again; the copy is moved into place (a file) or reported done (a device) only once the
//     check passes.
//
// Every piece from the network is still verified by its SHA-1 as it arrives: anacrolix does it
// and cannot be told otherwise, and no unverified piece is ever served.
//
// The mark ("trusted": 1) and the SHA-256 it relies on sit beside the info dictionary, like the
// zero pieces, so the info hash is the same in both modes (one swarm, one publisher seed). Being
// outside the info hash they are authenticated otherwise: a target learns the metainfo through
// the controller, which names it by the SHA-256 of its bytes on the host's authenticated watch
// stream (mTLS, or the host token), and a metainfo fetched from a relay is checked against that
// sum before use. A forged SHA-256 can then only fail copies, never pass a bad one: the piece
// hashes, inside the info hash, still verify every piece that crosses the network.

// Check modes, as dist show and dist report name them.
const (
	ModeTrusted = "trusted"
	ModeNormal  = "normal"
)

// Mode names the end check m selects.
func (m Meta) Mode() string {
	if m.Trusted {
		return ModeTrusted
	}
	return ModeNormal
}

// checkTrusted refuses a trusted mark of another value than 1, or without the SHA-256 it relies on.
func checkTrusted(v int64, sum string) error {
	switch {
	case v == 0:
		return nil
	case v != 1:
		return fmt.Errorf("trusted mark %d, want 1", v)
	case sum == "":
		return errors.New("trusted mark without the whole-file sha256 it relies on")
	}
	return nil
}

// Trust answers the metainfo mi marked for trusted mode; its info dictionary, and so its info
// hash, stay the same. mi must carry the whole-file SHA-256 (a published file's does).
func Trust(mi []byte) ([]byte, error) {
	m, err := Parse(mi)
	if err != nil {
		return nil, fmt.Errorf("trust metainfo: %w", err)
	}
	if m.SHA256 == "" {
		return nil, fmt.Errorf("trust metainfo %s: no whole-file sha256: publish the file so that its publisher computes one", m.InfoHash)
	}
	out, err := bencode.Marshal(file{Info: m.InfoBytes, SHA256: m.SHA256, Zero: m.zero, Trusted: 1})
	if err != nil {
		return nil, fmt.Errorf("trust metainfo %s: %w", m.InfoHash, err)
	}
	return out, nil
}

// ModeOf names the end check of a raw metainfo: "" when mi is empty or does not parse.
func ModeOf(mi []byte) string {
	if len(mi) == 0 {
		return ""
	}
	m, err := Parse(mi)
	if err != nil {
		return ""
	}
	return m.Mode()
}

// CheckEvery is how many bytes ResumableSHA256 reads between two saves of its state: a crash
// costs at most this much reading again, and a save (one small synced file) per GiB costs nothing
// next to reading it.
const CheckEvery = 1 << 30

// endState is the saved progress of ResumableSHA256.
type endState struct {
	Key    string `json:"key"`    // what is checked (an info hash); another key's state is ignored
	Size   int64  `json:"size"`   // of the whole content
	Offset int64  `json:"offset"` // bytes hashed so far
	State  []byte `json:"state"`  // the SHA-256 state after them (MarshalBinary)
}

// checkBlock is ResumableSHA256's read size.
const checkBlock = 4 << 20

// ResumableSHA256 answers the lowercase hex SHA-256 of the first size bytes of r, read once in
// order, and the offset it started from. Every `every` bytes (<= 0: CheckEvery) it saves its state
// to statePath, atomically; a later call with the same key and size goes on from the saved
// offset instead of from the start. The state file is removed once the sum is known (a repair
// that follows rewrites bytes, so the next check starts over). Reads overlap the hashing.
func ResumableSHA256(ctx context.Context, r io.ReaderAt, size int64, key, statePath string, every int64) (sum string, from int64, err error) {
	if size < 0 {
		return "", 0, fmt.Errorf("sha256: negative size %d", size)
	}
	if every <= 0 {
		every = CheckEvery
	}
	h := sha256.New()
	from = loadEndState(statePath, key, size, h.(encoding.BinaryUnmarshaler))
	if from == 0 {
		h.Reset()
	}

	type block struct {
		b   []byte
		off int64
	}
	free, full := make(chan []byte, 2), make(chan block, 2)
	for range 2 {
		free <- make([]byte, min(checkBlock, max(size, 1)))
	}
	rctx, stop := context.WithCancel(ctx)
	defer stop()
	readErr := make(chan error, 1)
	go func() {
		defer close(full)
		for off := from; off < size; {
			if err := rctx.Err(); err != nil {
				readErr <- err
				return
			}
			var b []byte
			select {
			case b = <-free:
			case <-rctx.Done():
				readErr <- rctx.Err()
				return
			}
			k := int(min(int64(len(b)), size-off))
			n, err := r.ReadAt(b[:k], off)
			if n < k {
				if err == nil || errors.Is(err, io.EOF) {
					err = errShortRead
				}
				readErr <- fmt.Errorf("sha256: read at %d: %w", off, err)
				return
			}
			full <- block{b[:k], off}
			off += int64(k)
		}
		readErr <- nil
	}()
	quit := func(err error) (string, int64, error) {
		stop()
		for range full { // let the reader end
		}
		<-readErr
		return "", from, err
	}
	next := (from/every + 1) * every
	for blk := range full {
		h.Write(blk.b)
		end := blk.off + int64(len(blk.b))
		free <- blk.b[:cap(blk.b)]
		if end >= next && end < size {
			next = (end/every + 1) * every
			if err := saveEndState(statePath, key, size, end, h.(encoding.BinaryMarshaler)); err != nil {
				return quit(err)
			}
		}
		// After the save: what was read before a stop is kept.
		if err := ctx.Err(); err != nil {
			return quit(err)
		}
	}
	if err := <-readErr; err != nil {
		return "", from, err
	}
	if err := os.Remove(statePath); err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", from, fmt.Errorf("sha256: remove state %s: %w", statePath, err)
	}
	return hex.EncodeToString(h.Sum(nil)), from, nil
}

// loadEndState restores into h the state saved at path for key and size and answers its offset;
// 0 when there is none that fits (h is then to be reset).
func loadEndState(path, key string, size int64, h encoding.BinaryUnmarshaler) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	var st endState
	if json.Unmarshal(b, &st) != nil || st.Key != key || st.Size != size || st.Offset <= 0 || st.Offset > size {
		return 0
	}
	if h.UnmarshalBinary(st.State) != nil {
		return 0
	}
	return st.Offset
}

func saveEndState(path, key string, size, off int64, h encoding.BinaryMarshaler) error {
	state, err := h.MarshalBinary()
	if err != nil {
		return fmt.Errorf("sha256: save state %s: %w", path, err)
	}
	if err := atomicfile.WriteJSON(path, endState{Key: key, Size: size, Offset: off, State: state}); err != nil {
		return fmt.Errorf("sha256: save state %s: %w", path, err)
	}
	return nil
}
