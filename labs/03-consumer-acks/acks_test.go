// Do not edit: this test shows the failure.

package acks

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"msglabs/shared/fault"
	"msglabs/shared/harness"
	"msglabs/shared/shop"
	"msglabs/shared/story"
)

var charged = story.Expect{Item: "order", From: "sent to Billing", Done: "charged"}

// loopLimit is how many deliveries of one message mean it is going round in circles: a malformed order needs one.
const loopLimit = 5

// holdUpLimit is how long o-2 may wait behind o-1 in TestOneFailingOrderDoesNotHoldUpTheOthers. Billing charges it
// within milliseconds unless it is stuck on o-1; past 2 s the story says where Billing is stuck.
const holdUpLimit = 2500 * time.Millisecond

// declineDelay is how long the card processor takes to decline a charge: a real one answers in milliseconds, not at
// once, which also keeps a message that is retried forever from spinning the CPU.
const declineDelay = 20 * time.Millisecond

// Billing runs in OS processes of its own (harness.Spawn): a crash really loses its memory. Its card processor lives
// in the test (cards), which decides which charges fail. The crashes are read off the wire, so they happen where the
// broker or the database sees them, whatever the code does.
func TestMain(m *testing.M) { harness.Main(m, harness.Roles{"billing": runBilling}) }

// runBilling runs one Billing instance in its own process, charging cards through the test.
func runBilling(ctx context.Context, s *harness.Service) error {
	b := &Billing{DB: s.Pool(), Cards: remoteCards{s}, Logf: s.Logf}
	return b.Consume(ctx, s.MustDial(), s.Arg("queue"))
}

// remoteCards is the card processor as a spawned Billing sees it: every charge is a call to the test.
type remoteCards struct{ s *harness.Service }

func (c remoteCards) Charge(_ context.Context, orderID string, cents int) error {
	if refusal := c.s.Call("charge", fmt.Sprintf("%s %d", orderID, cents)); refusal != "" {
		return errors.New(refusal)
	}
	return nil
}

// Billing dies at a bad moment for o-1 (a deploy, an OOM kill): right after the broker handed it o-1, or as it
// records the charge in its ledger. When Billing is back, the order must still be charged.
func TestCrashedBillingKeepsTheOrder(t *testing.T) {
	for _, crash := range []struct {
		when    string
		trigger fault.Trigger
	}{
		{"right after receiving o-1", fault.AfterDeliveryOf("m-1", 1)},
		{"while recording the charge for o-1", fault.BeforeCommitTo("charges", 1)},
	} {
		t.Run(crash.when, func(t *testing.T) {
			env := harness.New(t)
			env.Exec(Schema)
			queue := env.Name("billing")
			cards := newCards(env)

			first := startBilling(env, "billing", queue, cards)
			first.CrashOn(crash.trigger)
			env.Publisher("sales").SendWithID("m-1", "", queue, shop.BillOrder{OrderID: "o-1", Cents: 4200})
			waitCrash(env, first, "never received o-1")
			brokerNoticed(env, queue)

			startBilling(env, "billing", queue, cards) // billing#2: restarted, it catches up on what waits for it
			env.Settle(func() bool { return len(chargedOrders(env)) == 1 }, queue)
			env.ExactlyOnce(charged.Because("Billing crashed %s, before it had dealt with it; billing#2 started after it", crash.when),
				[]string{"o-1"}, chargedOrders(env))
			mustSettle(env, queue, "o-1")
		})
	}
}

// The card processor is down for o-1: its first five attempts time out, an outage rather than a blip. Billing must
// keep the order until a charge goes through, not drop it after a try or three. Billing only consumes; should it
// publish anything while it deals with the failure, it dies right there (a deploy at the worst moment).
func TestFailedChargeIsRetried(t *testing.T) {
	env := harness.New(t)
	env.Exec(Schema)
	queue := env.Name("billing")
	cards := newCards(env)
	const outage = 5 // failed attempts in a row
	cards.fail("o-1", outage)

	billing := startBilling(env, "billing", queue, cards)
	billing.CrashOn(fault.BeforePublishOf(fault.Msg{}))
	env.Publisher("sales").SendWithID("m-1", "", queue, shop.BillOrder{OrderID: "o-1", Cents: 4200})
	env.Settle(func() bool { return len(chargedOrders(env)) == 1 || billing.Dead() }, queue)
	if billing.Dead() {
		brokerNoticed(env, queue)
		startBilling(env, "billing", queue, cards)
		env.Settle(func() bool { return len(chargedOrders(env)) == 1 }, queue)
	}
	env.ExactlyOnce(charged.Because("the card processor was down for o-1's first %d attempts (injected) and Billing "+
		"tried %d time(s)%s", outage, cards.failures("o-1"), diedWhile(billing, "publishing, after a failed charge")),
		[]string{"o-1"}, chargedOrders(env))
	mustSettle(env, queue, "o-1")
}

// A BillOrder arrives that nobody can read (a bug in a sender), with o-1 right behind it. It will never parse, so
// trying it again is pointless: it must not go round in circles, o-1 must be charged, and the broker must be told
// that Billing is done with it (left unacked, it would come back with every restart).
func TestMalformedOrderDoesNotLoop(t *testing.T) {
	env := harness.New(t)
	env.Exec(Schema)
	queue := env.Name("billing")
	startBilling(env, "billing", queue, newCards(env))

	sales := env.Publisher("sales")
	sales.Raw("", queue, amqp.Publishing{MessageId: "m-bad", Type: "BillOrder", ContentType: shop.ContentType,
		DeliveryMode: amqp.Persistent, Body: []byte(`{"order_id": "o-0", "amount_cents": `)})
	sales.SendWithID("m-1", "", queue, shop.BillOrder{OrderID: "o-1", Cents: 4200})
	// Eventually, not Settle: with auto-ack nothing crosses the wire between the card charge and its row in the
	// ledger, and a quiet spell there must not end the wait before o-1 is recorded.
	env.Eventually(func() bool { return len(chargedOrders(env)) == 1 && env.Deliveries("m-bad") > 0 })
	env.ExactlyOnce(charged.Because("a malformed BillOrder (m-bad) came just before it"), []string{"o-1"}, chargedOrders(env))
	env.Settle(func() bool { return env.Deliveries("m-bad") > loopLimit }, queue)
	if n := env.Deliveries("m-bad"); n > loopLimit {
		env.Fail(story.Stalled, "the malformed message m-bad was delivered %d times and keeps coming back: a body that "+
			"does not parse was sent back to the queue, and it will never parse", n)
	}
	if env.Unacked() > 0 { // Settle found no quiet spell: something is still unacked
		env.Fail(story.Stalled, "the malformed message m-bad was delivered and never settled: Billing neither acked nor "+
			"rejected it, so the broker keeps it in progress for as long as Billing lives and delivers it again whenever "+
			"Billing restarts")
	}
}

// o-1's bank is down for the whole evening: every charge for o-1 is declined. That is o-1's problem: o-2, right
// behind it, must be charged as usual.
func TestOneFailingOrderDoesNotHoldUpTheOthers(t *testing.T) {
	env := harness.New(t)
	env.Exec(Schema)
	queue := env.Name("billing")
	cards := newCards(env)
	cards.fail("o-1", forever)
	startBilling(env, "billing", queue, cards)

	sales := env.Publisher("sales")
	sales.SendWithID("m-1", "", queue, shop.BillOrder{OrderID: "o-1", Cents: 4200})
	sales.SendWithID("m-2", "", queue, shop.BillOrder{OrderID: "o-2", Cents: 1300})
	env.EventuallyWithin(holdUpLimit, func() bool { return len(chargedOrders(env)) > 0 })
	if got := chargedOrders(env); len(got) != 1 || got[0] != "o-2" {
		env.Fail(story.Stalled, "order o-2 was not charged (charged: %v) while Billing kept trying o-1, whose card is "+
			"declined every time (%d attempts so far): one failing order held up the ones behind it", got, cards.failures("o-1"))
	}
}

// mustSettle checks that the delivery of a billed order was acked: a message left unacked stays with the broker,
// which hands it out again (a second charge) as soon as Billing's channel closes.
func mustSettle(env *harness.Env, queue, orderID string) {
	env.T.Helper()
	if !env.WaitDrained(queue) {
		env.Fail(story.Stalled, "order %s was charged, but its message was never acked: the broker still counts it as in "+
			"progress and will deliver it again when Billing's channel closes", orderID)
	}
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

// diedWhile adds, for a Billing that died of its crash, what it was doing.
func diedWhile(billing *harness.Process, doing string) string {
	if !billing.Dead() {
		return ""
	}
	return "; Billing died " + doing
}

// brokerNoticed waits until the broker has noticed that Billing died: its consumer is gone from the queue. The
// broker drops a dead channel's consumers and requeues what they had not acked in one step, so from here on whatever
// the broker kept is back in the queue, and Settle cannot call the system quiet before it is handled.
func brokerNoticed(env *harness.Env, queue string) {
	env.T.Helper()
	if !env.WaitConsuming(queue, 0) {
		env.T.Fatalf("the broker still counts a consumer on %q %v after Billing died", env.Short(queue), harness.Patience)
	}
}

// startBilling starts a Billing instance as the process called name (an OS process of its own), its charges going
// through cards, and waits until it is consuming.
func startBilling(env *harness.Env, name, queue string, cards *cards) *harness.Process {
	env.T.Helper()
	proc := env.SpawnRole(name, "billing", harness.Args{"queue": queue})
	proc.On("charge", func(arg string) string { return cards.charge(proc.Name, arg) })
	consuming := func() bool { _, n, err := env.QueueDepth(queue); return err == nil && n > 0 }
	if !env.Eventually(func() bool { return consuming() || proc.Dead() }) {
		env.T.Fatalf("Billing did not start consuming %q: %v", env.Short(queue), proc.Err())
	}
	return proc
}

func chargedOrders(env *harness.Env) []string {
	return env.Strings(`SELECT order_id FROM charges ORDER BY order_id`)
}

// forever is a failure count that never runs out.
const forever = -1

// cards is the payment provider, in the test: it fails the first charges of the orders it was told to (as a
// provider that times out now and then would) and logs every charge. It is safe for concurrent use.
type cards struct {
	env      *harness.Env
	mu       sync.Mutex
	failLeft map[string]int // order → failures still to come (forever: all of them)
	failed   map[string]int // order → failures so far
}

func newCards(env *harness.Env) *cards {
	return &cards{env: env, failLeft: map[string]int{}, failed: map[string]int{}}
}

// fail makes the next n charges of orderID fail (forever: every one).
func (c *cards) fail(orderID string, n int) {
	c.mu.Lock()
	c.failLeft[orderID] = n
	c.mu.Unlock()
}

func (c *cards) failures(orderID string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.failed[orderID]
}

// charge answers one instance's charge ("o-1 4200"): "" when it went through, the error otherwise.
func (c *cards) charge(instance, arg string) string {
	var orderID string
	var cents int
	if _, err := fmt.Sscanf(arg, "%s %d", &orderID, &cents); err != nil {
		return "bad charge request " + arg
	}
	c.mu.Lock()
	left := c.failLeft[orderID]
	if left > 0 {
		c.failLeft[orderID] = left - 1
	}
	if left != 0 {
		c.failed[orderID]++
	}
	n := c.failed[orderID]
	c.mu.Unlock()
	if left != 0 {
		select { // the provider's own latency
		case <-time.After(declineDelay):
		case <-c.env.Context().Done():
		}
		c.env.Log("cards", "charge %s for %s: timed out (injected, failure %d)", orderID, instance, n)
		return "card processor timed out"
	}
	c.env.Log("cards", "charged %s %d cents for %s", orderID, cents, instance)
	return ""
}
