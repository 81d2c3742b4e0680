//go:build linux

package gotest

import (
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// Pdeathsig: the kernel kills the test binary when its checker dies, even by SIGKILL (Linux only).
func TestRunTestBinaryDiesWithAKilledChecker(t *testing.T) {
	_, bin := fixture(t, labFixture, "TestHangsWithChild")
	pids := t.TempDir()
	helper := exec.Command(os.Args[0], "-test.run=^$")
	helper.Env = append(os.Environ(), helperEnv+"="+bin, "FIXTURE_PIDS="+pids)
	helper.Stderr = os.Stderr
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	binary, child := waitPids(t, pids)
	t.Cleanup(func() { _ = syscall.Kill(child, syscall.SIGKILL) })
	if err := helper.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = helper.Wait()
	waitGone(t, "the test binary of a checker killed with SIGKILL", binary, 2*time.Second)
}
