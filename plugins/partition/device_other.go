//go:build !linux

package partition

import (
	"errors"

	"dist/plugins"
)

const supported = false

var errNotSupported = errors.New("raw partitions are supported on Linux only: run this plugin on a Linux host")

func open(string, bool, bool) (plugins.Device, error) { return nil, errNotSupported }
