// Do not edit: this test shows the failure.

package edges

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"msglabs/shared/fault"
	"msglabs/shared/harness"
	"msglabs/shared/story"
)

// The services of this lab run in OS processes of their own (harness.Spawn): a restarted Sales, Billing or bridge is
// a new process with empty memory, and two instances share none, as in production. A package-level map, mutex or id
// drawn at start-up cannot fake what only the database or a stable id can do. The crashes are read off the wire
// (fault.BeforeCommitTo, fault.AfterCommitTo, fault.BeforeAckOf, …), so they happen where the database commits or
// the broker is told, wherever the code is.
func TestMain(m *testing.M) {
	harness.Main(m, harness.Roles{"sales": runSales, "billing": runBilling, "bridge": runBridge})
}

// holdLimit caps how long a test barrier holds one service waiting for the other. Both arrive within milliseconds
// when the code calls its hook where the hook's comment says; the limit is paid only by code that cannot get there
// twice (a lock taken before the hook).
const holdLimit = 2 * time.Second

var (
	checkouts = story.Expect{Item: "checkout", From: "made by the customer", Done: "turned into an order"}
	shipped   = story.Expect{Item: "order", From: "billed", Done: "shipped"}
	charged   = story.Expect{Item: "order", From: "taken by the phone desk", Done: "charged by Billing"}
)

// runSales runs one Sales API instance in its own process: an HTTP server on a free loopback port, whose address it
// tells the test. With "line-up" set, every request asks the test just before it writes, and waits for the answer.
func runSales(ctx context.Context, s *harness.Service) error {
	api := &Orders{DB: s.Pool()}
	if s.Arg("line-up") != "" {
		api.BeforeWrite = func(key string) { s.Call("before-write", key) }
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{Handler: api, ReadHeaderTimeout: harness.Patience}
	stop := context.AfterFunc(ctx, func() { _ = srv.Close() })
	defer stop()
	s.Call("listening", ln.Addr().String())
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// runBilling runs one Billing instance in its own process.
func runBilling(ctx context.Context, s *harness.Service) error {
	b := &Billing{DB: s.Pool(), Events: s.Arg("exchange")}
	return b.Consume(ctx, s.MustDial(), s.Arg("queue"))
}

// runBridge runs one bridge in its own process. With "line-up" set, the bridge asks the test just before it
// publishes a row, and waits for the answer.
func runBridge(ctx context.Context, s *harness.Service) error {
	b := &Bridge{DB: s.Pool(), Broker: s.MustDial(), Events: s.Arg("exchange"), Logf: s.Logf}
	if s.Arg("line-up") != "" {
		b.BeforePublish = func(msgID string) { s.Call("before-publish", msgID) }
	}
	return b.Run(ctx)
}

// declare binds a durable queue to the events exchange for each message type, as the test's setup.
func declare(env *harness.Env, exchange, queue string, messageTypes ...string) {
	env.T.Helper()
	ch, err := env.Process("setup").MustDial().Channel()
	if err != nil {
		env.T.Fatalf("open channel: %v", err)
	}
	defer ch.Close()
	for _, mt := range messageTypes {
		if err := DeclareSubscriber(ch, exchange, queue, mt); err != nil {
			env.T.Fatal(err)
		}
	}
}

// startBilling starts a Billing instance as the process called name (a process of its own) and waits until it is
// consuming.
func startBilling(env *harness.Env, name, events, queue string) *harness.Process {
	env.T.Helper()
	proc := env.SpawnRole(name, "billing", harness.Args{"exchange": events, "queue": queue})
	waitConsumer(env, proc, queue)
	return proc
}

// startShipping starts Shipping (the kit's code, not yours) in the test's own process.
func startShipping(env *harness.Env, queue string) {
	env.T.Helper()
	proc := env.Process("shipping")
	s := &Shipping{DB: proc.Pool()}
	conn := proc.MustDial()
	proc.Go(func(ctx context.Context) error { return s.Consume(ctx, conn, queue) })
	waitConsumer(env, proc, queue)
}

func waitConsumer(env *harness.Env, proc *harness.Process, queue string) {
	env.T.Helper()
	if !env.Eventually(func() bool { _, c, err := env.QueueDepth(queue); return err == nil && c > 0 }) {
		env.T.Fatalf("%s did not start consuming %q: %v", proc.Name, env.Short(queue), proc.Err())
	}
}

// waitCrash waits until proc has died of the crash armed on it, and fails the test saying what it never did
// otherwise.
func waitCrash(env *harness.Env, proc *harness.Process, never string) {
	env.T.Helper()
	select {
	case <-proc.Crashed():
	case <-time.After(harness.Patience):
		env.T.Fatalf("%s %s (errors: %v)\n%s", proc.Name, never, proc.Err(), env.Timeline)
	}
}

// brokerNoticed waits until the broker has dropped the consumers of a dead process on queue, which it does in the
// same step as requeueing what they had not acked.
func brokerNoticed(env *harness.Env, queue string) {
	env.T.Helper()
	if !env.WaitConsuming(queue, 0) {
		env.T.Fatalf("the broker still counts a consumer on %q %v after it died", env.Short(queue), harness.Patience)
	}
}

// idle reports whether every queue is empty and no delivery is unacked.
func idle(env *harness.Env, queues ...string) bool {
	for _, q := range queues {
		if n, _, err := env.QueueDepth(q); err != nil || n > 0 {
			return false
		}
	}
	return env.Unacked() == 0
}

// publishedBy returns the ids of the messages that the processes whose names start with actor published, in order,
// as the wire saw them.
func publishedBy(env *harness.Env, actor string) []string {
	var ids []string
	for _, e := range env.Timeline.Entries() {
		if e.Kind == story.Publish && strings.HasPrefix(e.Actor, actor) {
			ids = append(ids, e.Message)
		}
	}
	return ids
}

// repeated returns the ids that occur more than once in ids, each once, with how often: "L-1 (2 times)".
func repeated(ids []string) []string {
	count := map[string]int{}
	var order []string
	for _, id := range ids {
		if count[id] == 0 {
			order = append(order, id)
		}
		count[id]++
	}
	var out []string
	for _, id := range order {
		if count[id] > 1 {
			out = append(out, fmt.Sprintf("%s (%d times)", id, count[id]))
		}
	}
	return out
}

// armed is a crash the tests make a service die of, with its words for the story.
type armed struct {
	name string        // the sub-test's name
	at   fault.Trigger // when the service dies
	what string        // what that did, for the story
}
