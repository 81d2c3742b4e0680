package room

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"msglabs/shared/infra"
)

// TestSetupForRealOnThisMachine runs `checker room setup` on this machine's broker and database (loopback standing in
// for the LAN), then uses the printed line as an attendee would: a dashboard and an attendee's run in the room's
// vhost, as the room's user, not guest. Then `checker room teardown` removes it all. It needs rabbitmqctl with the
// broker's cookie (root on the CI machine); elsewhere it skips.
func TestSetupForRealOnThisMachine(t *testing.T) {
	if _, err := exec.LookPath("rabbitmqctl"); err != nil || exec.Command("rabbitmqctl", "-q", "list_vhosts").Run() != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("rabbitmqctl cannot talk to the broker on the CI machine")
		}
		t.Skip("rabbitmqctl cannot talk to a local broker here")
	}
	room := "t-setup-" + hex4(t)
	ctx := context.Background()
	t.Cleanup(func() { // also when the test fails half-way
		var out bytes.Buffer
		if code := cmdTeardown(ctx, []string{"--name", room}, &out, &out, RunCommand); code != 0 {
			t.Errorf("teardown: exit %d: %s", code, out.String())
		}
	})
	var out, errb bytes.Buffer
	if code := cmdSetup(ctx, []string{"--name", room, "--host", "127.0.0.1"}, &out, &errb, RunCommand); code != 0 {
		t.Fatalf("checker room setup exited %d: %s", code, errb.String())
	}
	line := regexp.MustCompile(`(?m)^export (MSGLABS_AMQP_URL=\S+) (MSGLABS_DATABASE_URL=\S+) (MSGLABS_ROOM=\S+)$`).FindStringSubmatch(out.String())
	if line == nil {
		t.Fatalf("setup printed no attendee line:\n%s", out.String())
	}
	amqpURL, dbURL := strings.TrimPrefix(line[1], "MSGLABS_AMQP_URL="), strings.TrimPrefix(line[2], "MSGLABS_DATABASE_URL=")
	if strings.Contains(amqpURL, "guest") || !strings.HasSuffix(amqpURL, "/msglabs-"+room) || line[3] != "MSGLABS_ROOM="+room {
		t.Fatalf("the attendee line does not use the room's own user and vhost: %s", line[0])
	}
	for _, secret := range regexp.MustCompile(`:([0-9a-f]{24})@`).FindAllStringSubmatch(line[0], -1) {
		if strings.Count(out.String(), secret[1]) != 1 {
			t.Errorf("a room password is printed outside the attendee line")
		}
	}

	// The instructor's dashboard and an attendee's run, both with the line.
	eps := infra.Endpoints{AMQP: infra.Endpoint{URL: amqpURL}, Database: infra.Endpoint{URL: dbURL}}
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close) // after the dashboard stopped, before the teardown
	s, handled := startDashboard(t, eps, room, pool, DefaultSchema)
	var warn bytes.Buffer
	e := Run{Lab: "01-temporal-coupling", Step: 1, Result: ResultPass}
	if err := Announce(ctx, env(map[string]string{EnvRoom: room, EnvAttendee: "ann"}), amqpURL, e, time.Now(), &warn); err != nil {
		t.Fatalf("an attendee's run with the room's line: %v (%s)", err, warn.String())
	}
	select {
	case <-handled:
	case <-time.After(patience):
		t.Fatal("the room's dashboard never got ann's run")
	}
	if v := s.State.View(time.Now()); len(v.Attendees) != 1 || v.Attendees[0].Name != "ann" {
		t.Fatalf("the room shows %+v", v.Attendees)
	}
}
