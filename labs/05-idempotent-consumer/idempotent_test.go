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

// lineUpLimit caps how long the first instance at the line-up waits for the second. Both arrive within milliseconds
// when Billing calls BeforeWrite before writing (the starter and the solution never wait for it); the limit is paid
// only by a Billing that holds a lock before BeforeWrite, so the second instance cannot get there.
const lineUpLimit = 2 * time.Second

// loopLimit is how many deliveries of m-1 mean it is going round in circles. A correct Billing needs two (the original
// and the duplicate), three if it retries a failed write once.
const loopLimit = 5

// Billing charges o-1, then crashes before it acks. The broker redelivers m-1 to the restarted Billing, which must
// recognise it and not charge o-1 again.
func TestRedeliveryAfterCrashChargesOnce(t *testing.T) {
	env := harness.New(t)
	env.Exec(Schema)
	exchange, queue := env.Name("sales"), env.Name("billing")

	first := startBilling(env, "billing", exchange, queue, nil)
	first.Points.Arm(fault.AfterCommit)
	env.Publisher("sales").SendWithID("m-1", exchange, OrderPlacedKey, shop.OrderPlaced{OrderID: "o-1", Customer: "ann", Cents: 4200})
	select {
	case <-first.Points.Crashed():
	case <-time.After(harness.Patience):
		t.Fatalf("Billing never reached %q for m-1: %v", fault.AfterCommit, first.Err())
	}
	brokerNoticed(env, queue)

	startBilling(env, "billing", exchange, queue, nil) // restarted: the broker hands it m-1 again, marked redelivered
	settled := env.Settle(func() bool { return env.Deliveries("m-1") >= 2 && env.Unacked() == 0 }, queue)
	judge(env, []string{"o-1"}, fmt.Sprintf("message m-1 was redelivered after Billing crashed at %q "+
		"(charge committed, ack not yet sent)", fault.AfterCommit))
	mustComeToRest(env, queue, settled)
}

// Billing dies just before its charge commits. Nothing may be half done: the restarted Billing must still charge
// o-1, once. (This passes in the starter; it fails if the message is marked processed in a transaction of its own
// before the charge.)
func TestCrashBeforeCommitStillCharges(t *testing.T) {
	env := harness.New(t)
	env.Exec(Schema)
	exchange, queue := env.Name("sales"), env.Name("billing")

	first := startBilling(env, "billing", exchange, queue, nil)
	first.Points.Arm(fault.BeforeCommit)
	env.Publisher("sales").SendWithID("m-1", exchange, OrderPlacedKey, shop.OrderPlaced{OrderID: "o-1", Customer: "ann", Cents: 4200})
	select {
	case <-first.Points.Crashed():
	case <-time.After(harness.Patience):
		t.Fatalf("Billing never reached %q for m-1: %v", fault.BeforeCommit, first.Err())
	}
	brokerNoticed(env, queue)

	startBilling(env, "billing", exchange, queue, nil)
	settled := env.Settle(func() bool { return env.Deliveries("m-1") >= 2 && env.Unacked() == 0 }, queue)
	judge(env, []string{"o-1"}, fmt.Sprintf("message m-1 was redelivered after Billing crashed at %q "+
		"(before the charge committed)", fault.BeforeCommit))
	mustComeToRest(env, queue, settled)
}

// Sales' publisher retried after a lost confirm, so m-1 is in Billing's queue twice, and two Billing instances each
// take a copy at the same moment. The test holds both just before their first write, then lets them go together.
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

// startBilling runs a Billing instance as the process called name and waits until it is consuming. With line set,
// the instance stops at the line-up before its first write.
func startBilling(env *harness.Env, name, exchange, queue string, line *lineUp) *harness.Process {
	env.T.Helper()
	proc := env.Process(name)
	billing := &Billing{DB: proc.Pool(), Points: proc.Points,
		Logf: func(format string, args ...any) { env.Log(proc.Name, format, args...) }}
	if line != nil {
		billing.BeforeWrite = func(messageID string) { line.wait(proc.Name, messageID) }
	}
	conn := proc.MustDial()
	proc.Go(func(ctx context.Context) error { return billing.Consume(ctx, conn, exchange, queue) })
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
