//go:build !unix

package gotest

import (
	"os"
	"os/exec"
	"syscall"
)

// sysProcAttr has nothing to add where there are no process groups.
func sysProcAttr() *syscall.SysProcAttr { return nil }

// killGroup kills the process (there is no group to kill).
func killGroup(pid int) {
	if p, err := os.FindProcess(pid); err == nil {
		_ = p.Kill()
	}
}

// waitAndKillGroup waits until the child exits.
func waitAndKillGroup(cmd *exec.Cmd) *os.ProcessState {
	_ = cmd.Wait()
	return cmd.ProcessState
}

// quit cannot ask for stacks without signals; it ends the binary.
func quit(pid int) { killGroup(pid) }

// startChild starts cmd.
func startChild(cmd *exec.Cmd) error { return cmd.Start() }

// processAlive cannot tell without signals; it says yes, so nothing is swept.
func processAlive(pid int) bool { return true }
