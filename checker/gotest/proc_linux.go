//go:build linux

package gotest

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"unsafe"
)

// sysProcAttr puts a child in a process group of its own (so it and everything it starts can be killed at once)
// and has the kernel kill it when the checker dies, even by SIGKILL.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// Pdeathsig fires when the thread that started the child ends, not the process, and the Go runtime ends a thread
// when a goroutine locked to it exits (a library may do that). So every child is started from one goroutine locked
// to its thread for the life of the checker.
var (
	spawnerOnce sync.Once
	spawns      = make(chan spawnRequest)
)

type spawnRequest struct {
	cmd  *exec.Cmd
	done chan error
}

// startChild starts cmd from the spawner's thread.
func startChild(cmd *exec.Cmd) error {
	spawnerOnce.Do(func() { go spawner() })
	req := spawnRequest{cmd: cmd, done: make(chan error, 1)}
	spawns <- req
	return <-req.done
}

func spawner() {
	runtime.LockOSThread() // never unlocked: the thread lives as long as the checker
	for req := range spawns {
		req.done <- req.cmd.Start()
	}
}

// killGroup kills the process group led by pid.
func killGroup(pid int) { _ = syscall.Kill(-pid, syscall.SIGKILL) }

// waitAndKillGroup waits until the child exits, kills what is left of its process group while the child is
// still a zombie (so its group id cannot have been reused), then reaps it.
func waitAndKillGroup(cmd *exec.Cmd) *os.ProcessState {
	pid := cmd.Process.Pid
	const pPID, wExited, wNoWait = 1, 4, 0x1000000
	var info [128]byte // siginfo_t
	for {
		_, _, errno := syscall.Syscall6(syscall.SYS_WAITID, pPID, uintptr(pid), uintptr(unsafe.Pointer(&info[0])),
			wExited|wNoWait, 0, 0)
		if errno != syscall.EINTR {
			break
		}
	}
	killGroup(pid)
	_ = cmd.Wait()
	return cmd.ProcessState
}

// quit asks the test binary for its stacks. The signal goes to the thread that is running, when one is: the Go
// runtime then prints the goroutine it interrupted first, which is how a loop that never blocks shows up (the
// stacks of goroutines running on other threads are not available).
func quit(pid int) {
	if tid := busiestThread(pid); tid > 0 {
		if syscall.Tgkill(pid, tid, syscall.SIGQUIT) == nil {
			return
		}
	}
	_ = syscall.Kill(pid, syscall.SIGQUIT)
}

// busiestThread returns the running thread of pid that used the most CPU, or 0.
func busiestThread(pid int) int {
	dir := filepath.Join("/proc", strconv.Itoa(pid), "task")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	best, most := 0, -1
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name(), "stat"))
		if err != nil {
			continue
		}
		// "tid (comm) S ppid …": the fields after the command, which may hold spaces, start with the state.
		_, rest, ok := strings.Cut(string(data), ") ")
		f := strings.Fields(rest)
		if !ok || len(f) < 13 || f[0] != "R" {
			continue
		}
		utime, _ := strconv.Atoi(f[11])
		stime, _ := strconv.Atoi(f[12])
		if tid, err := strconv.Atoi(e.Name()); err == nil && utime+stime > most {
			best, most = tid, utime+stime
		}
	}
	return best
}

// processAlive reports whether a process with this pid exists.
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || err == syscall.EPERM
}
