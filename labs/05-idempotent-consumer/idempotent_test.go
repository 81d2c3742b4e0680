// Do not edit: this test shows the failure.

package idempotent

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"msglabs/shared/fault"
	"msglabs/shared/harness"
	"msglabs/shared/shop"
	"msglabs/shared/story"
)

var charged = story.Expect{Item: "order", From: "placed", Done: "charged"}

// Billing runs in OS processes of its own (harness.Spawn): a crash really loses its memory, and two instances share
// none, as in production. The crashes are read off the wire (fault.AfterCommitTo, fault.BeforeCommitTo), so they
// happen where the database commits, wherever the code calls Points.At.
func TestMain(m *testing.M) { harness.Main(m, harness.Roles{"billing": runBilling}) }

// runBilling runs one Billing instance in its own process. With "line-up" set, Billing asks the test before its first
// write for a message, and waits for the answer.
func runBilling(ctx context.Context, s *harness.Service) error {
	b := &Billing{DB: s.Pool(), Points: s.Points, Logf: s.Logf}
	if s.Arg("line-up") != "" {
		b.BeforeWrite = func(messageID string) { s.Call("before-write", messageID) }
	}
	return b.Consume(ctx, s.MustDial(), s.Arg("exchange"), s.Arg("queue"))
}

// lineUpLimit caps how long the first instance at the line-up waits for the second. Both arrive within milliseconds
// when Billing calls BeforeWrite before writing (the starter and the solution never wait for it); the limit is paid
// only by a Billing that holds a lock before BeforeWrite, so the second instance cannot get there.
const lineUpLimit = 2 * time.Second

// loopLimit is how many deliveries of m-1 mean it is going round in circles. A correct Billing needs two (the original
// and the duplicate), three if it retries a failed write once.
const loopLimit = 5

// Billing charges o-1 and dies the instant the charge has committed, before anything else it sends arrives (its ack
// too). The broker redelivers m-1 to the restarted Billing, a new process with no memory of the first, which must
// recognise m-1 and not charge o-1 again.
func TestRedeliveryAfterCrashChargesOnce(t *testing.T) {
	env := harness.New(t)
	env.Exec(Schema)
	exchange, queue := env.Name("sales"), env.Name("billing")

	first := startBilling(env, "billing", exchange, queue, nil)
	first.CrashOn(fault.AfterCommitTo("charges", 1))
	env.Publisher("sales").SendWithID("m-1", exchange, OrderPlacedKey, shop.OrderPlaced{OrderID: "o-1", Customer: "ann", Cents: 4200})
	waitCrash(env, first, "never committed a charge for m-1")
	brokerNoticed(env, queue)

	startBilling(env, "billing", exchange, queue, nil) // restarted: the broker hands it m-1 again, marked redelivered
	settled := env.Settle(func() bool { return env.Deliveries("m-1") >= 2 && env.Unacked() == 0 }, queue)
	judge(env, []string{"o-1"}, "message m-1 was redelivered after Billing died right after its charge of o-1 "+
		"committed (the ack never left)")
	mustComeToRest(env, queue, settled)
}

// Billing dies as it commits the transaction that charges o-1: the commit never reaches the database, so the
// transaction rolls back. Nothing may be half done: the restarted Billing must still charge o-1, once. (This passes
// in the starter; it fails if the message is marked processed in a transaction of its own before the charge.)
func TestCrashBeforeCommitStillCharges(t *testing.T) {
	env := harness.New(t)
	env.Exec(Schema)
	exchange, queue := env.Name("sales"), env.Name("billing")

	first := startBilling(env, "billing", exchange, queue, nil)
	first.CrashOn(fault.BeforeCommitTo("charges", 1))
	env.Publisher("sales").SendWithID("m-1", exchange, OrderPlacedKey, shop.OrderPlaced{OrderID: "o-1", Customer: "ann", Cents: 4200})
	waitCrash(env, first, "never tried to commit a charge for m-1")
	brokerNoticed(env, queue)

	startBilling(env, "billing", exchange, queue, nil)
	settled := env.Settle(func() bool { return env.Deliveries("m-1") >= 2 && env.Unacked() == 0 }, queue)
	judge(env, []string{"o-1"}, "message m-1 was redelivered after Billing died as it committed its charge of o-1 "+
		"(the commit never reached the database)")
	mustComeToRest(env, queue, settled)
}

// Sales' publisher retried after a lost confirm, so m-1 is in Billing's queue twice, and two Billing instances (two
// processes) each take a copy at the same moment. The test holds both just before their first write, then lets them
// go together.
func TestSameMessageOnTwoInstancesChargesOnce(t *testing.T) {
	env := harness.New(t)
	env.Exec(Schema)
	exchange, queue := env.Name("sales"), env.Name("billing")

	line := &lineUp{env: env, both: make(chan struct{})}
	startBilling(env, "billing-a", exchange, queue, line)
	startBilling(env, "billing-b", exchange, queue, line)
	if !env.Eventually(func() bool { _, consumers, err := env.QueueDepth(queue); return err == nil && consumers == 2 }) {
		t.Fatal("the two Billing instances did not both start consuming")
	}
	sales := env.Publisher("sales")
	placed := shop.OrderPlaced{OrderID: "o-1", Customer: "ann", Cents: 4200}
	sales.SendWithID("m-1", exchange, OrderPlacedKey, placed)
	sales.SendWithID("m-1", exchange, OrderPlacedKey, placed) // the retry: same message, same id

	settled := env.Settle(func() bool { return env.Deliveries("m-1") >= 2 && env.Unacked() == 0 }, queue)
	judge(env, []string{"o-1"}, "message m-1 was delivered twice, one copy to each Billing instance at the same moment")
	mustComeToRest(env, queue, settled)
}

// waitCrash waits until Billing has died of the crash armed on it, and fails the test saying what Billing never did
// otherwise.
func waitCrash(env *harness.Env, billing *harness.Process, never string) {
	env.T.Helper()
	select {
	case <-billing.Crashed():
	case <-time.After(harness.Patience):
		env.T.Fatalf("Billing %s: %v", never, billing.Err())
	}
}

// brokerNoticed waits until the broker has noticed that Billing died: its consumer is gone from the queue. The
// broker drops a dead channel's consumers and requeues what they had not acked in one step, so from here on whatever
// the broker kept is back in the queue, and Settle cannot call the system quiet before it is handled.
func brokerNoticed(env *harness.Env, queue string) {
	env.T.Helper()
	if !env.WaitConsumers(queue, 0) {
		env.T.Fatalf("the broker still counts a consumer on %q %v after Billing died", env.Short(queue), harness.Patience)
	}
}

// mustComeToRest fails the test unless both copies of m-1 were settled (settled is what Settle reported) and m-1 then
// stays settled. A Billing that fails the copy it has already processed (an error for a duplicate) charges once, yet
// never finishes: the consumer nacks the copy, and the broker hands it out again and again.
func mustComeToRest(env *harness.Env, queue string, settled bool) {
	env.T.Helper()
	if !settled {
		env.Fail(story.Stalled, "Billing never finished with both copies of m-1 (%d deliveries, %d unacked)",
			env.Deliveries("m-1"), env.Unacked())
	}
	env.Settle(func() bool { return env.Deliveries("m-1") > loopLimit }, queue)
	if n := env.Deliveries("m-1"); n > loopLimit {
		env.Fail(story.Stalled, "message m-1 was delivered %d times and keeps coming back: the copy Billing had already "+
			"processed was nacked instead of acked, so the broker delivers it again and again (Handle must return nil for a "+
			"duplicate)", n)
	}
}

// judge fails the test unless every order in want was charged exactly once, with what happened to the message in
// the headline.
func judge(env *harness.Env, want []string, what string) {
	env.T.Helper()
	got := env.Strings(`SELECT order_id FROM charges ORDER BY id`)
	findings := story.ExactlyOnce(charged, want, got)
	if len(findings) == 0 {
		return
	}
	var details []string
	for _, f := range findings[1:] {
		details = append(details, fmt.Sprintf("also %s: %s", f.Marker, f.Headline))
	}
	env.FailWith(findings[0].Marker, details, "%s; %s", findings[0].Headline, what)
}

// startBilling starts a Billing instance as the process called name (a process of its own) and waits until it is
// consuming. With line set, the instance stops at the line-up before its first write.
func startBilling(env *harness.Env, name, exchange, queue string, line *lineUp) *harness.Process {
	env.T.Helper()
	args := harness.Args{"exchange": exchange, "queue": queue}
	if line != nil {
		args["line-up"] = "yes"
	}
	proc := env.SpawnRole(name, "billing", args)
	if line != nil {
		proc.On("before-write", func(messageID string) string { line.wait(proc.Name, messageID); return "" })
	}
	if !env.Eventually(func() bool { _, consumers, err := env.QueueDepth(queue); return err == nil && consumers > 0 }) {
		env.T.Fatalf("Billing did not start consuming %q: %v", env.Short(queue), proc.Err())
	}
	return proc
}

// lineUp is the test's barrier: it holds the first two callers until both have arrived and then releases them
// together, so both are past their check before either writes. Later callers pass straight through. It is safe for
// concurrent use.
type lineUp struct {
	env  *harness.Env
	mu   sync.Mutex
	n    int
	both chan struct{}
}

func (l *lineUp) wait(who, messageID string) {
	l.mu.Lock()
	l.n++
	n := l.n
	if n == 2 {
		close(l.both)
	}
	l.mu.Unlock()
	if n > 2 {
		return
	}
	l.env.Log(who, "holds %s just before its first write, until both instances are there (test barrier)", messageID)
	select {
	case <-l.both:
		l.env.Log(who, "released with the other instance")
	case <-time.After(lineUpLimit):
		l.env.Log(who, "goes on alone: the other instance never reached its first write while this one waited")
	}
}
