package store

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
)

// ResolveSpec answers the store a controller is given by its --store value (flag, DIST_STORE or the
// config file) or its --store-file (a file holding the URL): at most one of them. A password may
// come from the file, PGPASSWORD or PGPASSFILE, never from the value, which other users can read
// in the process list or a shared config file.
func ResolveSpec(value, file string) (string, error) {
	if value != "" && file != "" {
		return "", errors.New("store: give --store or --store-file, not both")
	}
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("store file: %w", err)
		}
		spec := strings.TrimSpace(string(b))
		if spec == "" {
			return "", fmt.Errorf("store file %s is empty: write the store URL in it (postgres://USER:PASSWORD@HOST:PORT/DB)", file)
		}
		return spec, nil
	}
	if SpecHasPassword(value) {
		return "", fmt.Errorf("store %s holds a password, readable by others where it is given: "+
			"drop it from the URL and set PGPASSWORD or PGPASSFILE, or put the whole URL in a file named by --store-file",
			RedactSpec(value))
	}
	return value, nil
}

// OpenSpec opens the store a controller is told to use: "" is SQLite at defaultPath (the embedded
// default), "sqlite:PATH" SQLite at PATH, and "postgres://…" or "postgresql://…" PostgreSQL.
func OpenSpec(ctx context.Context, spec, defaultPath string) (Store, error) {
	switch {
	case spec == "":
		return Open(defaultPath)
	case strings.HasPrefix(spec, "sqlite:"):
		p := strings.TrimPrefix(spec, "sqlite:")
		if p == "" {
			return nil, fmt.Errorf("store %q: no path after sqlite:", spec)
		}
		return Open(p)
	case IsPostgres(spec):
		return OpenPostgres(ctx, spec)
	}
	return nil, fmt.Errorf("store %q: unknown kind: give sqlite:PATH or postgres://USER@HOST:PORT/DB", RedactSpec(spec))
}

// IsPostgres reports whether spec names a PostgreSQL database.
func IsPostgres(spec string) bool {
	return strings.HasPrefix(spec, "postgres://") || strings.HasPrefix(spec, "postgresql://")
}

// SpecHasPassword reports whether a PostgreSQL URL carries a password (user:secret@, or a
// password= query parameter), which must not be given where other users can read it.
func SpecHasPassword(spec string) bool {
	if !IsPostgres(spec) {
		return false
	}
	u, err := url.Parse(spec)
	if err != nil {
		return strings.Contains(spec, "password") || strings.Contains(strings.SplitN(spec, "@", 2)[0], ":")
	}
	if _, ok := u.User.Password(); ok {
		return true
	}
	return u.Query().Has("password")
}

// RedactSpec is spec with any password masked, for messages.
func RedactSpec(spec string) string {
	u, err := url.Parse(spec)
	if err != nil || u.Scheme == "" {
		if IsPostgres(spec) {
			return "postgres://(unparsable URL)"
		}
		return spec
	}
	return u.Redacted()
}
