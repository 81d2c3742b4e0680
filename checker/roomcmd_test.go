package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// TestRoomSetupPrintsTheLineUnmasked runs `checker room setup` through the app, as the instructor does: everything the
// checker prints is redacted, but the line attendees paste must carry the room's real passwords, or nobody can join.
// It needs rabbitmqctl with the broker's cookie (root on the CI machine); elsewhere it skips.
func TestRoomSetupPrintsTheLineUnmasked(t *testing.T) {
	if _, err := exec.LookPath("rabbitmqctl"); err != nil || exec.Command("rabbitmqctl", "-q", "list_vhosts").Run() != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("rabbitmqctl cannot talk to the broker on the CI machine")
		}
		t.Skip("rabbitmqctl cannot talk to a local broker here")
	}
	room := fmt.Sprintf("t-paste-%d", os.Getpid())
	t.Cleanup(func() {
		var out bytes.Buffer
		if code := newApp(&out, &out).main([]string{"room", "teardown", "--name", room}); code != 0 {
			t.Errorf("teardown: exit %d: %s", code, out.String())
		}
	})
	var out, errb bytes.Buffer
	if code := newApp(&out, &errb).main([]string{"room", "setup", "--name", room, "--host", "127.0.0.1"}); code != 0 {
		t.Fatalf("checker room setup exited %d: %s", code, errb.String())
	}
	line := regexp.MustCompile(`(?m)^export MSGLABS_AMQP_URL=\S+ MSGLABS_DATABASE_URL=\S+ MSGLABS_ROOM=\S+$`).FindString(out.String())
	if line == "" {
		t.Fatalf("no paste line in the output:\n%s", out.String())
	}
	if strings.Contains(line, "***") {
		t.Fatalf("the paste line has its passwords masked, so attendees cannot join with it:\n%s", line)
	}
	// Nothing else a set-up prints shows a password (its commands are masked by room.Plan.Redacted).
	for _, l := range strings.Split(out.String(), "\n") {
		if l != line && regexp.MustCompile(`:[0-9a-f]{24}@`).MatchString(l) {
			t.Errorf("a password was printed outside the paste line: %s", l)
		}
	}
}
