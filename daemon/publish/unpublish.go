package publish

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"dist/core/api"
	"dist/daemon/pluginhost"
)

// ErrNotPublished wraps the error of an unpublish request that names nothing this host publishes.
var ErrNotPublished = errors.New("not published")

// Unpublish withdraws a publication named by its info hash or its path: the file stops being
// seeded and served (GET /v1/files/{hash} answers 404 from now on) and is not restored at the next
// start. The file itself is left where it is. It answers what was withdrawn.
func (p *Publisher) Unpublish(ctx context.Context, what string) (api.Published, error) {
	if err := ctx.Err(); err != nil {
		return api.Published{}, err
	}
	where := what
	if !pluginhost.IsURI(what) && !isInfoHash(what) {
		if abs, err := filepath.Abs(what); err == nil {
			where = abs
		}
	}
	p.mu.Lock()
	pub := p.byHash[strings.ToLower(what)]
	if pub == nil {
		for _, c := range p.byHash {
			if c.Path == where {
				pub = c
				break
			}
		}
	}
	if pub != nil {
		delete(p.byHash, pub.InfoHash)
	}
	p.mu.Unlock()
	if pub == nil {
		return api.Published{}, fmt.Errorf("%w: %s is not published on this host: see the info hash dist push printed", ErrNotPublished, what)
	}
	// The record goes first: a crash after it leaves nothing that a restart would serve again.
	var errs []error
	for _, f := range []string{pub.InfoHash + ".json", pub.InfoHash + ".pieces"} {
		if err := os.Remove(filepath.Join(p.cfg.Dir, f)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("remove publication record %s: %w", f, err))
		}
	}
	if pub.tor != nil {
		if err := pub.tor.Drop(false); err != nil { // never the data: it is the publisher's file
			errs = append(errs, err)
		}
	}
	if pub.src.dev == nil && pub.src.done != nil {
		if err := pub.src.done(); err != nil {
			errs = append(errs, fmt.Errorf("close %s: %w", pub.Path, err))
		}
	}
	p.cfg.Logger.Info("unpublished", "path", pub.Path, "info_hash", pub.InfoHash)
	out := api.Published{Host: p.cfg.Host, Source: p.cfg.HTTPURL + "/v1/files/" + pub.InfoHash, Name: pub.Name,
		Size: pub.Size, InfoHash: pub.InfoHash, SHA256: pub.SHA256}
	return out, errors.Join(errs...)
}

// isInfoHash reports whether s looks like a hex BitTorrent v1 info hash.
func isInfoHash(s string) bool {
	if len(s) != 40 {
		return false
	}
	for _, c := range strings.ToLower(s) {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
