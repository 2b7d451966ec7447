//go:build !windows

package swarm

import (
	"errors"
	"os"
	"syscall"
)

// An open file can be renamed under its reader on Unix.
const reopenOnMove = false

func isCrossDevice(err error) bool { return errors.Is(err, syscall.EXDEV) }

// syncDir makes a rename in dir durable. Best effort: not every filesystem supports it.
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	d.Sync()
	d.Close()
}
