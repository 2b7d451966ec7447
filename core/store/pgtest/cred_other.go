//go:build !unix

package pgtest

import (
	"os"
	"os/exec"
)

// credential is unused where there is no root to step down from.
type credential struct{}

func unprivileged() (*credential, error)  { return nil, nil }
func (c *credential) own(string) error    { return nil }
func (c *credential) apply(cmd *exec.Cmd) {}
func (c *credential) tempBase() string    { return os.TempDir() }
