package harness

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"msglabs/shared/fault"
	"msglabs/shared/infra"
	"msglabs/shared/shop"
	"msglabs/shared/story"
)

// envHelper marks a run of this test binary as a helper: the tests named helper* only run when it is set, each in a
// process of its own, so that a test can watch another fail (or resolve its services) from the outside.
const envHelper = "MSGLABS_HARNESS_HELPER"

// helperTimeout bounds one helper run: a refused RabbitMQ login takes the broker about 3 s to answer.
const helperTimeout = 30 * time.Second

// runHelper runs the helper test name in a fresh test binary process with extra environment and returns what it
// printed. The helper is expected to fail (it tells a story); an exit status of 1 is not an error.
func runHelper(t *testing.T, name string, env ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), helperTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^"+name+"$", "-test.v")
	cmd.Env = append(append(os.Environ(), envHelper+"=1"), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("helper %s did not finish within %v:\n%s", name, helperTimeout, out.String())
	}
	if exit, ok := err.(*exec.ExitError); err != nil && (!ok || exit.ExitCode() != 1) {
		t.Fatalf("helper %s: %v\n%s", name, err, out.String())
	}
	return out.String()
}

func helperOnly(t *testing.T) {
	if os.Getenv(envHelper) == "" {
		t.Skip("a helper: runs only in a process of its own, started by another test")
	}
}

// closedPort returns a loopback address where nothing listens.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// A test that needs neither service (an in-memory check, like lab 15's explorer) runs, and fails with its own
// story, while both services are unreachable: New connects to nothing.
func TestNewConnectsToNothing(t *testing.T) {
	t.Parallel()
	out := runHelper(t, "TestHelperInMemoryStory",
		infra.EnvAMQP+"=amqp://guest:guest@"+closedPort(t)+"/", infra.EnvDatabase+"=postgres://postgres@"+closedPort(t)+"/postgres")
	if !strings.Contains(out, "DUPLICATE: order o-1 was charged 2 times") || strings.Contains(out, "INFRA") {
		t.Fatalf("an in-memory test did not tell its own story with both services down:\n%s", out)
	}
}

func TestHelperInMemoryStory(t *testing.T) {
	helperOnly(t)
	env := New(t)
	env.Log("explorer", "explored 3 schedules")
	env.ExactlyOnce(story.Expect{Item: "order", From: "placed", Done: "charged"}, []string{"o-1"}, []string{"o-1", "o-1"})
}

// A refused login, a missing vhost, a database that refuses the user or does not exist: the first test that needs
// the service fails at once with INFRA, which service, what it said, and the fix, and never prints the password.
func TestInfraAtStart(t *testing.T) {
	for _, tc := range []struct {
		name, env, want string
	}{
		{"wrong broker password", infra.EnvAMQP + "=amqp://guest:s3cr3t-wrong@127.0.0.1:5672/",
			`INFRA: RabbitMQ refused the login for user "guest" (ACCESS_REFUSED): check the user and password in MSGLABS_AMQP_URL`},
		{"missing vhost", infra.EnvAMQP + "=amqp://guest:guest@127.0.0.1:5672/no-such-vhost",
			`INFRA: RabbitMQ has no virtual host "no-such-vhost" (NOT_ALLOWED): check the vhost at the end of MSGLABS_AMQP_URL, or create it: rabbitmqctl add_vhost no-such-vhost`},
		{"unknown database user", infra.EnvDatabase + "=postgres://nobody-here:s3cr3t-wrong@127.0.0.1:5432/postgres",
			`INFRA: PostgreSQL refused the login for user "nobody-here" (role "nobody-here" does not exist, SQLSTATE 28000): check the user in MSGLABS_DATABASE_URL`},
		{"missing database", infra.EnvDatabase + "=postgres://postgres@127.0.0.1:5432/no_such_db",
			`INFRA: PostgreSQL has no database "no_such_db" (SQLSTATE 3D000): check the database at the end of MSGLABS_DATABASE_URL, or create it: createdb no_such_db`},
		{"broker down", infra.EnvAMQP + "=amqp://guest:guest@" + closedPort(t) + "/",
			`INFRA: RabbitMQ is not reachable at`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			began := time.Now()
			out := runHelper(t, "TestHelperUsesBothServices", tc.env)
			if !strings.Contains(out, tc.want) {
				t.Fatalf("output lacks %q:\n%s", tc.want, out)
			}
			if strings.Contains(out, "s3cr3t") {
				t.Fatalf("the password was printed:\n%s", out)
			}
			if strings.Contains(out, "the helper got past") {
				t.Fatalf("the test went on after the service refused it:\n%s", out)
			}
			if took := time.Since(began); took > helperTimeout/2 {
				t.Fatalf("INFRA took %v: it must come at once, not after a timeout", took)
			}
		})
	}
}

func TestHelperUsesBothServices(t *testing.T) {
	helperOnly(t)
	env := New(t)
	env.Exec(`CREATE TABLE t (id int)`)
	env.Process("billing").MustDial()
	t.Fatal("the helper got past both services")
}

// A broker link that the broker's side ends, without the test cutting it, turns the failing test's story into
// INFRA: which service, which process, not the attendee's code.
func TestLostBrokerLinkIsInfra(t *testing.T) {
	t.Parallel()
	out := runHelper(t, "TestHelperBrokerGoesAway")
	for _, want := range []string{
		"INFRA: RabbitMQ ended the connection of billing mid-run, and the test did not cut it: not your code",
		"the test would otherwise have said: LOST: order o-1 was never billed",
		"connection to RabbitMQ ended from the RabbitMQ side (the test did not cut it)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if labMarker.MatchString(out) {
		t.Errorf("the lab marker was reported as well as INFRA:\n%s", out)
	}
}

// labMarker matches a failure story that starts with the lab's marker.
var labMarker = regexp.MustCompile(`(?m)^\s+\w+\.go:\d+: LOST:`)

// A test that fails its own way (a t.Fatalf, a wait that ran out) after a lost link gets the INFRA story at cleanup.
func TestLostLinkAddsInfraToAnyFailure(t *testing.T) {
	t.Parallel()
	out := runHelper(t, "TestHelperBrokerGoesAway", "HELPER_FAIL_PLAINLY=1")
	if !strings.Contains(out, "Billing never answered") ||
		!strings.Contains(out, "INFRA: RabbitMQ ended the connection of billing mid-run") {
		t.Fatalf("a plain failure after a lost link carries no INFRA story:\n%s", out)
	}
}

// TestHelperBrokerGoesAway runs against the real broker through a proxy of its own (standing in for the network to
// the broker), then cuts that proxy: to the harness, the broker's side ended the link.
func TestHelperBrokerGoesAway(t *testing.T) {
	helperOnly(t)
	network, err := fault.NewProxy("127.0.0.1:5672", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { network.Close() }) // after the Env's cleanup, which still deletes through it
	t.Setenv(infra.EnvAMQP, "amqp://guest:guest@"+network.Addr()+"/")
	env := New(t)
	queue := env.Name("billing")
	billing := env.Process("billing")
	ch, err := billing.MustDial().Channel()
	if err != nil {
		t.Fatal(err)
	}
	declareQueue(t, ch, queue)
	if _, err := ch.Consume(queue, "", false, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if !env.WaitConsuming(queue, 1) {
		t.Fatal("no consumer")
	}
	network.Cut() // the broker "goes away" under the test; the test itself cuts nothing
	if !env.Eventually(func() bool { return strings.Contains(env.Timeline.Full(), "ended from the RabbitMQ side") }) {
		t.Fatalf("the harness never noticed the lost link:\n%s", env.Timeline.Full())
	}
	if os.Getenv("HELPER_FAIL_PLAINLY") != "" {
		t.Fatal("Billing never answered")
	}
	env.Fail(story.Lost, "order o-1 was never billed")
}

// A cut the test makes is not INFRA: the test's own story stands.
func TestCutByTheTestIsNotInfra(t *testing.T) {
	ft := &fakeTB{TB: t}
	env := New(ft)
	p := env.Process("sales")
	conn := p.MustDial()
	closed := conn.NotifyClose(make(chan *amqp.Error, 1))
	p.CutBroker()
	<-closed
	func() {
		defer func() { recover() }()
		env.Fail(story.Lost, "order o-1 was never billed")
	}()
	if !strings.HasPrefix(ft.msg, "LOST: order o-1 was never billed") {
		t.Fatalf("a cut by the test changed the story:\n%s", ft.msg)
	}
}

// WaitConsuming sees a consumer arrive and, after its process dies, leave.
func TestWaitConsuming(t *testing.T) {
	env := New(t)
	queue := env.Name("work")
	worker := env.Process("worker")
	ch, err := worker.MustDial().Channel()
	if err != nil {
		t.Fatal(err)
	}
	declareQueue(t, ch, queue)
	if !env.WaitConsuming(queue, 0) {
		t.Fatal("a fresh queue has consumers")
	}
	if _, err := ch.Consume(queue, "", false, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if !env.WaitConsuming(queue, 1) {
		t.Fatal("WaitConsuming(queue, 1) false after Consume")
	}
	worker.Kill()
	if !env.WaitConsumers(queue, 0) {
		t.Fatal("the broker still counts the dead worker's consumer")
	}
}

// A cause given with Because ends the headline.
func TestExactlyOnceBecause(t *testing.T) {
	ft := &fakeTB{TB: t}
	env := &Env{T: ft, Timeline: story.NewTimeline()}
	charged := story.Expect{Item: "order", From: "placed", Done: "charged"}
	func() {
		defer func() { recover() }()
		env.ExactlyOnce(charged.Because("m-1 was redelivered after Billing crashed at %q", "after-commit"),
			[]string{"o-1"}, []string{"o-1", "o-1"})
	}()
	want := `DUPLICATE: order o-1 was charged 2 times (1 placed, 2 charged); m-1 was redelivered after Billing crashed at "after-commit"`
	if !strings.HasPrefix(ft.msg, want+"\n") {
		t.Fatalf("story:\n%s\nwant it to start with:\n%s", ft.msg, want)
	}
}

// The timeline's entries say what they are about.
func TestRecorderEntriesAreStructured(t *testing.T) {
	env := New(t)
	queue := env.Name("work")
	worker := env.Process("worker")
	ch, err := worker.MustDial().Channel()
	if err != nil {
		t.Fatal(err)
	}
	declareQueue(t, ch, queue)
	id := env.Publisher("sales").Send("", queue, shop.BillOrder{OrderID: "o-1"})
	d, ok, err := ch.Get(queue, false)
	if err != nil || !ok {
		t.Fatalf("get: ok=%v err=%v", ok, err)
	}
	_ = d.Ack(false)
	// The recorder reads each direction on its own goroutine, so wait until the ack itself is on the timeline (an
	// unacked count of zero can be seen before the delivery it settles was recorded).
	kinds := map[story.Kind]story.Entry{}
	acked := env.Eventually(func() bool {
		kinds = map[story.Kind]story.Entry{}
		for _, e := range env.Timeline.Entries() {
			kinds[e.Kind] = e
		}
		return kinds[story.Ack].Message == id && env.Unacked() == 0
	})
	if !acked {
		t.Fatal("the ack was never seen")
	}
	for kind, want := range map[story.Kind]story.Entry{
		story.Declare: {Actor: "worker", Peer: "work"},
		story.Publish: {Actor: "sales", Message: id, Peer: "work"},
		story.Confirm: {Actor: "sales", Message: id},
		story.Deliver: {Actor: "worker", Message: id, Peer: "work"},
		story.Ack:     {Actor: "worker", Message: id},
	} {
		got := kinds[kind]
		if got.Actor != want.Actor || got.Message != want.Message || got.Peer != want.Peer {
			t.Errorf("%s entry = %+v, want actor %q, message %q, peer %q", kind, got, want.Actor, want.Message, want.Peer)
		}
	}
}

// A proxy that can tell which side ended a link overrules the wire's clues: a client that vanished (a child process
// that exited on its own) is not a lost link; a broker side that ended it is.
func TestLinkEndedOverrulesTheWire(t *testing.T) {
	for _, tc := range []struct {
		byTarget, lost bool
	}{{false, false}, {true, true}} {
		env := &Env{T: t, Timeline: story.NewTimeline()}
		r := newRecorder(env, "billing")
		r.LinkEnded(tc.byTarget)
		r.Closed(false)
		if got := len(env.lost) > 0; got != tc.lost {
			t.Errorf("LinkEnded(byTarget=%v): lost = %v, want %v", tc.byTarget, got, tc.lost)
		}
	}
}
