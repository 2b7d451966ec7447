package content

import (
	"crypto/sha1"
	"errors"
	"fmt"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
)

// infoDict is the single-file info dictionary exactly as dist writes it. A struct of our own,
// rather than metainfo.Info, keeps "length" present for empty files and leaves out every optional
// field, so the same file always gets the same info hash.
type infoDict struct {
	Length      int64  `bencode:"length"`
	Name        string `bencode:"name"`
	PieceLength int64  `bencode:"piece length"`
	Pieces      []byte `bencode:"pieces"`
	// Private (BEP 27) tells clients to find peers only where they are told to: no DHT, no PEX.
	Private int64 `bencode:"private"`
}

// file is the top-level dictionary dist writes: the info dictionary and, beside it (outside the
// info hash), the whole-file SHA-256 that every target checks before it declares a copy finished.
// Other BitTorrent clients ignore the extra key.
type file struct {
	Info   bencode.Bytes `bencode:"info"`
	SHA256 string        `bencode:"sha256,omitempty"`
	// Zero marks the all-zero pieces (zero.go).
	Zero []byte `bencode:"zero pieces,omitempty"`
	// Trusted, 1, selects the trusted end check (trusted.go).
	Trusted int64 `bencode:"trusted,omitempty"`
}

// Build returns the bencoded metainfo of a single file called name of size bytes, cut in pieces of
// pieceLen whose SHA-1 hashes are pieces (as HashPieces returns them), and its info hash as
// lowercase hex. The torrent is private and has no announce URL: peers come from the controller.
func Build(name string, size, pieceLen int64, pieces []byte) (mi []byte, infoHash string, err error) {
	m, err := New(name, size, pieceLen, pieces, "")
	return m.Raw, m.InfoHash, err
}

// New is Build with the whole-file SHA-256 (lowercase hex, or "" when unknown) carried beside the
// info dictionary, answered as the parsed Meta.
func New(name string, size, pieceLen int64, pieces []byte, sha256 string) (Meta, error) {
	mi, err := build(name, size, pieceLen, pieces, sha256)
	if err != nil {
		return Meta{}, err
	}
	return Parse(mi)
}

func build(name string, size, pieceLen int64, pieces []byte, sha256 string) ([]byte, error) {
	if name == "" {
		return nil, errors.New("build metainfo: empty name")
	}
	if size < 0 {
		return nil, fmt.Errorf("build metainfo %s: negative size %d", name, size)
	}
	if pieceLen <= 0 {
		return nil, fmt.Errorf("build metainfo %s: piece length %d must be positive", name, pieceLen)
	}
	if want := numPieces(size, pieceLen) * sha1.Size; int64(len(pieces)) != want {
		return nil, fmt.Errorf("build metainfo %s: %d bytes of piece hashes, want %d", name, len(pieces), want)
	}
	if sha256 != "" && !isSHA256(sha256) {
		return nil, fmt.Errorf("build metainfo %s: sha256 %q is not 64 lowercase hex digits", name, sha256)
	}
	info, err := bencode.Marshal(infoDict{
		Length:      size,
		Name:        name,
		PieceLength: pieceLen,
		Pieces:      pieces,
		Private:     1,
	})
	if err != nil {
		return nil, fmt.Errorf("build metainfo %s: %w", name, err)
	}
	mi, err := bencode.Marshal(file{Info: info, SHA256: sha256, Zero: zeroField(size, pieceLen, pieces)})
	if err != nil {
		return nil, fmt.Errorf("build metainfo %s: %w", name, err)
	}
	return mi, nil
}

func isSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// Meta is what dist needs to know about a single-file torrent. It is parsed once where the
// metainfo enters a host and handed around as this value.
type Meta struct {
	InfoHash  string // lowercase hex of the v1 info hash
	Name      string
	Size      int64
	PieceLen  int64
	NumPieces int
	Pieces    []byte // SHA-1 of each piece, 20 bytes each, in order
	// SHA256 is the whole-file checksum the publisher or the first relay computed, lowercase hex;
	// "" when the metainfo carries none.
	SHA256 string
	// Trusted selects the trusted end check: the copy is checked by SHA256 alone, read once in
	// order (trusted.go). Always false without SHA256.
	Trusted bool
	// Raw is the bencoded metainfo as received; InfoBytes its info dictionary.
	Raw, InfoBytes []byte

	zero []byte // bitfield of the all-zero pieces (IsZero), nil when none is marked
}

// Known reports whether m holds a parsed metainfo (the zero Meta does not).
func (m Meta) Known() bool { return len(m.InfoBytes) > 0 }

// Parse reads a bencoded metainfo. It accepts single-file v1 torrents only and checks that the
// length, the piece length and the number of piece hashes agree, so callers can index pieces
// without further checks.
func Parse(mi []byte) (Meta, error) {
	var m metainfo.MetaInfo
	if err := bencode.Unmarshal(mi, &m); err != nil {
		return Meta{}, fmt.Errorf("parse metainfo: %w", err)
	}
	if len(m.InfoBytes) == 0 {
		return Meta{}, errors.New("parse metainfo: no info dictionary")
	}
	info, err := m.UnmarshalInfo()
	if err != nil {
		return Meta{}, fmt.Errorf("parse metainfo info: %w", err)
	}
	ih := m.HashInfoBytes().HexString()
	var top struct {
		SHA256  string `bencode:"sha256"`
		Zero    []byte `bencode:"zero pieces"`
		Trusted int64  `bencode:"trusted"`
	}
	if err := bencode.Unmarshal(mi, &top); err != nil {
		return Meta{}, fmt.Errorf("parse metainfo %s: %w", ih, err)
	}
	if top.SHA256 != "" && !isSHA256(top.SHA256) {
		return Meta{}, fmt.Errorf("parse metainfo %s: sha256 %q is not 64 lowercase hex digits", ih, top.SHA256)
	}
	switch {
	case len(info.Files) != 0 || info.IsDir():
		return Meta{}, fmt.Errorf("parse metainfo %s: multi-file torrents are not supported", ih)
	case info.HasV2():
		return Meta{}, fmt.Errorf("parse metainfo %s: v2 and hybrid torrents are not supported", ih)
	case info.Length < 0:
		return Meta{}, fmt.Errorf("parse metainfo %s: negative length %d", ih, info.Length)
	case info.PieceLength <= 0:
		return Meta{}, fmt.Errorf("parse metainfo %s: piece length %d must be positive", ih, info.PieceLength)
	case len(info.Pieces)%sha1.Size != 0:
		return Meta{}, fmt.Errorf("parse metainfo %s: pieces field of %d bytes is not a multiple of 20", ih, len(info.Pieces))
	}
	if want := numPieces(info.Length, info.PieceLength); int64(len(info.Pieces)/sha1.Size) != want {
		return Meta{}, fmt.Errorf("parse metainfo %s: %d piece hashes for length %d and piece length %d, want %d",
			ih, len(info.Pieces)/sha1.Size, info.Length, info.PieceLength, want)
	}
	if err := checkTrusted(top.Trusted, top.SHA256); err != nil {
		return Meta{}, fmt.Errorf("parse metainfo %s: %w", ih, err)
	}
	if err := checkZero(top.Zero, info.Length, info.PieceLength, info.Pieces); err != nil {
		return Meta{}, fmt.Errorf("parse metainfo %s: %w", ih, err)
	}
	if len(top.Zero) == 0 {
		top.Zero = nil
	}
	return Meta{
		zero:      top.Zero,
		InfoHash:  ih,
		Name:      info.BestName(),
		Size:      info.Length,
		PieceLen:  info.PieceLength,
		NumPieces: len(info.Pieces) / sha1.Size,
		Pieces:    info.Pieces,
		SHA256:    top.SHA256,
		Trusted:   top.Trusted == 1,
		Raw:       mi,
		InfoBytes: m.InfoBytes,
	}, nil
}

// PieceHash returns the expected SHA-1 of piece i. i must be in [0, NumPieces).
func (m Meta) PieceHash(i int) []byte {
	return m.Pieces[i*sha1.Size : (i+1)*sha1.Size : (i+1)*sha1.Size]
}

// PieceRange returns where piece i lies in the file: its offset and its length (the last piece
// may be short). i must be in [0, NumPieces).
func (m Meta) PieceRange(i int) (off, n int64) {
	if i < 0 || i >= m.NumPieces {
		panic(fmt.Sprintf("piece %d out of range [0, %d)", i, m.NumPieces))
	}
	off = int64(i) * m.PieceLen
	return off, min(m.PieceLen, m.Size-off)
}
