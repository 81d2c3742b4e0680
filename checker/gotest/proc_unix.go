//go:build unix && !linux

package gotest

import (
	"os"
	"os/exec"
	"syscall"
)

// sysProcAttr puts a child in a process group of its own, so it and everything it starts can be killed at once.
// (Outside Linux there is no Pdeathsig: a test binary whose checker was killed with SIGKILL ends at its own
// -test.timeout.)
func sysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

// killGroup kills the process group led by pid.
func killGroup(pid int) { _ = syscall.Kill(-pid, syscall.SIGKILL) }

// waitAndKillGroup waits until the child exits, then kills what is left of its process group.
func waitAndKillGroup(cmd *exec.Cmd) *os.ProcessState {
	_ = cmd.Wait()
	killGroup(cmd.Process.Pid)
	return cmd.ProcessState
}

// quit asks the test binary for its stacks.
func quit(pid int) { _ = syscall.Kill(pid, syscall.SIGQUIT) }

// startChild starts cmd.
func startChild(cmd *exec.Cmd) error { return cmd.Start() }

// processAlive reports whether a process with this pid exists.
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || err == syscall.EPERM
}
