//go:build unix

package pgtest

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
)

// credential is the unprivileged user the cluster runs as when the tests run as root.
type credential struct{ uid, gid int }

// unprivileged answers nil when we are not root, else the user nobody.
func unprivileged() (*credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("nobody")
	if err != nil {
		return nil, fmt.Errorf("running as root, and PostgreSQL refuses root: no user nobody to run it as (%v)", err)
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("user nobody: uid %q gid %q", u.Uid, u.Gid)
	}
	return &credential{uid: uid, gid: gid}, nil
}

// own hands dir and what it holds to the cluster's user.
func (c *credential) own(dir string) error {
	if c == nil {
		return nil
	}
	err := filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, c.uid, c.gid)
	})
	if err != nil {
		return fmt.Errorf("hand the test cluster's directory to uid %d: %w", c.uid, err)
	}
	return nil
}

// tempBase answers where to make the cluster's directory: the usual temporary directory, unless
// the cluster's user could not reach into it (a TMPDIR under /root), then /tmp.
func (c *credential) tempBase() string {
	dir := os.TempDir()
	if c == nil {
		return dir
	}
	for p := dir; ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil || fi.Mode().Perm()&0o001 == 0 {
			return "/tmp"
		}
		if p == filepath.Dir(p) {
			return dir
		}
	}
}

func (c *credential) apply(cmd *exec.Cmd) {
	if c == nil {
		return
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(c.uid), Gid: uint32(c.gid)}}
	// nobody's home is not ours to read; the tools need none.
	cmd.Env = append(cmd.Env, "HOME="+cmd.Dir)
}
