//go:build !linux

package harness

import (
	"os/exec"
	"syscall"
)

// childAttrs: outside Linux a child notices the test's death by the end of its pipe only.
func childAttrs() *syscall.SysProcAttr { return nil }

func startChild(cmd *exec.Cmd) error { return cmd.Start() }
