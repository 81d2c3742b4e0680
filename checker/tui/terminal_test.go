package tui

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"msglabs/checker/kittest"
)

// TestInARealTerminal builds the checker and drives it in tmux at 100×30 on a throwaway kit: the lab list must
// appear within a second, r must show the LOST story, watch mode must re-run on a save and unlock lab 2, and q must
// quit cleanly with the terminal restored. It measures the time to the first frame.
func TestInARealTerminal(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the checker and runs it in tmux")
	}
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux is not installed")
	}
	bin := filepath.Join(t.TempDir(), "checker")
	if out, err := exec.Command("go", "build", "-o", bin, "msglabs/checker").CombinedOutput(); err != nil {
		t.Fatalf("build the checker: %v\n%s", err, out)
	}
	root := sampleKit(t)
	kittest.Commit(t, root)
	trace := filepath.Join(t.TempDir(), "trace.log")
	sock := fmt.Sprintf("msglabs-test-%d", os.Getpid())
	tmux := func(args ...string) string {
		t.Helper()
		out, err := exec.Command("tmux", append([]string{"-L", sock}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("tmux %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	defer exec.Command("tmux", "-L", sock, "kill-server").Run()
	script := fmt.Sprintf("cd %q && env MSGLABS_TUI_TRACE=%q MSGLABS_INSTRUCTOR= %q; echo EXITED $?; sleep 60", root, trace, bin)
	start := time.Now()
	tmux("new-session", "-d", "-s", "kit", "-x", "100", "-y", "30", script)
	pane := func() string { return tmux("capture-pane", "-p", "-t", "kit") }
	waitFor := func(within time.Duration, what ...string) (string, bool) {
		deadline := time.Now().Add(within)
		for {
			p := pane()
			for _, w := range what {
				if strings.Contains(p, w) {
					return p, true
				}
			}
			if time.Now().After(deadline) {
				return p, false
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	p, ok := waitFor(time.Second, "Second: the sequel")
	shown := time.Since(start)
	if !ok || !strings.Contains(p, "First lab") || !strings.Contains(p, "○ todo") {
		t.Fatalf("the lab list did not appear within a second:\n%s", p)
	}
	if data, err := os.ReadFile(trace); err == nil {
		t.Logf("lab list on screen %s after starting tmux; checker says: %s", shown.Round(time.Millisecond), strings.TrimSpace(string(data)))
	} else {
		t.Logf("lab list on screen %s after starting tmux", shown.Round(time.Millisecond))
	}

	tmux("send-keys", "-t", "kit", "r")
	p, ok = waitFor(90*time.Second, "1 passed, 1 failed", "not reachable", "could not reach")
	if !ok {
		t.Fatalf("no result after r:\n%s", p)
	}
	if strings.Contains(p, "1 passed, 1 failed") {
		wantIn(t, p, "✗ lab 1: step 1 of 1 failing · 1 passed, 1 failed", "LOST:", "order o-17 went wrong", "timeline:")
		tmux("send-keys", "-t", "kit", "w")
		if p, ok = waitFor(5*time.Second, "[watching labs/01-first"); !ok {
			t.Fatalf("w did not start watching:\n%s", p)
		}
		time.Sleep(200 * time.Millisecond)
		kittest.Write(t, root, map[string]string{"labs/01-first/work.go": kittest.Solved("first")})
		if p, ok = waitFor(90*time.Second, "unlocked: lab 2"); !ok {
			t.Fatalf("a save in watch mode did not re-run to a pass:\n%s", p)
		}
		wantIn(t, p, "✓ lab 1 passed", "started by a save")
	} else {
		t.Logf("RabbitMQ/PostgreSQL not resolvable here; checked the message only:\n%s", p)
	}

	tmux("send-keys", "-t", "kit", "q")
	if p, ok = waitFor(5*time.Second, "EXITED"); !ok {
		t.Fatalf("q did not quit:\n%s", p)
	}
	wantIn(t, p, "EXITED 0")
	if strings.Contains(p, "passed") || strings.Contains(p, "First lab") {
		t.Fatalf("the TUI is still on screen after quitting (alternate screen not left):\n%s", p)
	}
	if alt := strings.TrimSpace(tmux("display-message", "-p", "-t", "kit", "#{alternate_on}")); alt != "0" {
		t.Fatalf("alternate screen still on: %q", alt)
	}
}
