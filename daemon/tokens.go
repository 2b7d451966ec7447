package daemon

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"dist/core/atomicfile"
)

// controllerTokens settles the controller's tokens. Nothing is open: a token not given is
// generated once and kept in the data directory. The host token comes only from --host-token
// (DIST_HOST_TOKEN) or its file, never from --token: an operator's shell that exports DIST_TOKEN
// for the CLI must not lock every daemon out when it restarts the controller. A --host-token that
// differs from the kept one replaces it, loudly. The controller's own host presents the host token.
func (d *Daemon) controllerTokens() error {
	admin, err := d.token(&d.cfg.AdminToken, "admin.token")
	if err != nil {
		return err
	}
	host, err := d.token(&d.cfg.HostToken, "host.token")
	if err != nil {
		return err
	}
	if admin == host {
		return errors.New("admin token and host token are the same: give the controller different ones")
	}
	if d.cfg.Token != "" && d.cfg.Token != host {
		d.log.Info("--token is not used on a controller host: its own agent presents the host token")
	}
	d.cfg.Token = host
	return nil
}

// token settles one token: the given value (written to file when it differs from what the file
// holds), else the file's, else a new random one written to file.
func (d *Daemon) token(v *string, file string) (string, error) {
	path := filepath.Join(d.cfg.Data, file)
	kept, err := readToken(path)
	if err != nil {
		return "", err
	}
	switch {
	case *v != "" && kept != "" && *v != kept:
		d.log.Warn("token replaced: daemons and scripts holding the old one are refused from now on", "file", path)
	case *v != "" && kept == "":
	case *v != "":
		return *v, nil
	case kept != "":
		*v = kept
		d.log.Info("token read from file", "file", path)
		return kept, nil
	default:
		buf := make([]byte, 24)
		if _, err := rand.Read(buf); err != nil {
			return "", fmt.Errorf("token %s: %w", path, err)
		}
		*v = hex.EncodeToString(buf)
		d.log.Info("token generated", "file", path)
	}
	if err := atomicfile.Write(path, []byte(*v+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("token file %s: %w", path, err)
	}
	return *v, nil
}

func readToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("token file %s: %w", path, err)
	}
	return strings.TrimSpace(string(b)), nil
}
