//go:build windows

package swarm

import (
	"errors"
	"syscall"
)

// Windows refuses to rename a file that is open without FILE_SHARE_DELETE, which os.OpenFile
// does not ask for: close, rename, reopen.
const reopenOnMove = true

// errNotSameDevice is ERROR_NOT_SAME_DEVICE.
const errNotSameDevice = syscall.Errno(17)

func isCrossDevice(err error) bool { return errors.Is(err, errNotSameDevice) }

// syncDir is a no-op: NTFS renames are journaled and directories cannot be fsynced.
func syncDir(string) {}
