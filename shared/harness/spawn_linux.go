package harness

import (
	"os/exec"
	"runtime"
	"sync"
	"syscall"
)

// childAttrs makes the kernel kill a child when the thread that started it dies: the child never outlives the test.
func childAttrs() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// Pdeathsig follows the thread that forked, not the process, and the Go runtime may end a thread. So every child is
// started from one goroutine locked to its thread for the life of the test binary.
var (
	spawnerOnce sync.Once
	spawns      = make(chan spawnRequest)
)

type spawnRequest struct {
	cmd  *exec.Cmd
	done chan error
}

func startChild(cmd *exec.Cmd) error {
	spawnerOnce.Do(func() { go spawner() })
	req := spawnRequest{cmd: cmd, done: make(chan error, 1)}
	spawns <- req
	return <-req.done
}

func spawner() {
	runtime.LockOSThread() // never unlocked: the thread lives as long as the test binary
	for req := range spawns {
		req.done <- req.cmd.Start()
	}
}
