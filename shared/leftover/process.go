package leftover

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// processStart returns when process pid started, as the kernel counts it (/proc/PID/stat field 22, clock ticks
// since boot), or "" where there is no /proc. With the pid it names one process for good: a pid the system reused
// for another process has another start.
func processStart(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return ""
	}
	// The command name (field 2) is in parentheses and may hold spaces: count fields after its closing one.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return ""
	}
	fields := strings.Fields(s[i+1:])
	const startField = 22 - 3 // fields after ")" start with field 3 (state)
	if len(fields) <= startField {
		return ""
	}
	return fields[startField]
}

// alive reports whether the process a record names is still running on this host.
func alive(pid int, started string) bool {
	if pid == os.Getpid() {
		return true
	}
	if _, err := os.Stat("/proc/self/stat"); err == nil {
		now := processStart(pid)
		return now != "" && (started == "" || now == started)
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
