// Package partition is the origin-IO plugin for raw disk partitions: partition:///dev/sdb1 is
// read and written like a file of the partition's size. Linux only; a regular file works too,
// which is how it is tested on machines that cannot make loop devices.
//
// URI query options: direct=1 opens with O_DIRECT (the page cache is bypassed; buffers, offsets
// and lengths are aligned to the device's logical block size here, whatever the caller passes).
package partition

import (
	"context"
	"fmt"
	"net/url"
	"strconv"

	"dist/plugins"
)

// Name is the plugin's name and its URI scheme.
const Name = "partition"

// Plugin implements plugins.OriginIO.
type Plugin struct{}

// Open implements plugins.OriginIO.
func (Plugin) Open(_ context.Context, uri string, write bool) (plugins.Device, error) {
	path, direct, err := parseURI(uri)
	if err != nil {
		return nil, err
	}
	return open(path, write, direct)
}

// Health implements plugins.HealthChecker.
func (Plugin) Health(context.Context) (string, error) {
	if !supported {
		return "", errNotSupported
	}
	return "ok", nil
}

// parseURI takes partition:///dev/sdb1?direct=1 apart.
func parseURI(uri string) (path string, direct bool, err error) {
	u, err := url.Parse(uri)
	if err != nil {
		return "", false, fmt.Errorf("uri %q: %w", uri, err)
	}
	if u.Scheme != Name || u.Path == "" || (u.Host != "" && u.Host != "localhost") {
		return "", false, fmt.Errorf("uri %q: want %s:///path/to/device", uri, Name)
	}
	if v := u.Query().Get("direct"); v != "" {
		direct, err = strconv.ParseBool(v)
		if err != nil {
			return "", false, fmt.Errorf("uri %q: direct=%q is not a boolean", uri, v)
		}
	}
	return u.Path, direct, nil
}
