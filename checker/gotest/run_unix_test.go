//go:build unix

package gotest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// waitPids waits until TestHangsWithChild has written its pids to dir.
func waitPids(t *testing.T, dir string) (binary, child int) {
	t.Helper()
	deadline := time.Now().Add(settle)
	for time.Now().Before(deadline) {
		data, err := os.ReadFile(filepath.Join(dir, "pids"))
		if err == nil {
			f := strings.Fields(string(data))
			b, _ := strconv.Atoi(f[0])
			c, _ := strconv.Atoi(f[1])
			return b, c
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("TestHangsWithChild did not start within %s", settle)
	return 0, 0
}

// alive reports whether pid is a process that has not exited (a zombie has).
func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true // no /proc: trust the signal
	}
	_, rest, _ := strings.Cut(string(data), ") ")
	return !strings.HasPrefix(rest, "Z")
}

// waitGone fails unless pid exits within limit.
func waitGone(t *testing.T, what string, pid int, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("%s (pid %d) still runs %s later", what, pid, limit)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRunCancelKillsTheProcessGroup(t *testing.T) {
	o, bin := fixture(t, labFixture, "TestHangsWithChild")
	pids := t.TempDir()
	o.Env, o.TestTimeout = []string{"FIXTURE_PIDS=" + pids}, -1
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		_, err := Exec(ctx, bin, o, nil)
		errc <- err
	}()
	binary, child := waitPids(t, pids)
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Exec after cancel: %v", err)
		}
	case <-time.After(settle):
		t.Fatal("Exec did not return after cancel")
	}
	waitGone(t, "the test binary", binary, 2*time.Second)
	waitGone(t, "the test's child process", child, 2*time.Second)
}
