// Do not edit: this test shows the failure.

package acks

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"msglabs/shared/fault"
	"msglabs/shared/harness"
	"msglabs/shared/shop"
	"msglabs/shared/story"
)

var charged = story.Expect{Item: "order", From: "sent to Billing", Done: "charged"}

// Billing dies right after receiving an order (a deploy, an OOM kill). When it is back, the order must still be billed.
func TestCrashedBillingKeepsTheOrder(t *testing.T) {
	env := harness.New(t)
	env.Exec(Schema)
	queue := env.Name("billing")
	cards := &cardProcessor{env: env}

	first := startBilling(env, queue, cards)
	first.Points.Arm(fault.AfterReceive)
	env.Publisher("sales").Send("", queue, shop.BillOrder{OrderID: "o-1", Cents: 4200})
	select {
	case <-first.Points.Crashed():
	case <-time.After(harness.Patience):
		t.Fatalf("Billing never received o-1: %v", first.Err())
	}
	brokerNoticed(env, queue)

	startBilling(env, queue, cards) // Billing is restarted and catches up on what waits for it
	env.Settle(func() bool { return len(chargedOrders(env)) == 1 }, queue)
	env.ExactlyOnce(charged, []string{"o-1"}, chargedOrders(env),
		"Billing crashed right after receiving o-1 (injected at \"after-receive\"), before charging it; billing#2 started after it.")
	mustSettle(env, queue, "o-1")
}

// The card processor times out once. Billing must try the order again, not drop it.
func TestFailedChargeIsRetried(t *testing.T) {
	env := harness.New(t)
	env.Exec(Schema)
	queue := env.Name("billing")
	cards := &cardProcessor{env: env, failOnce: map[string]bool{"o-1": true}}

	startBilling(env, queue, cards)
	env.Publisher("sales").Send("", queue, shop.BillOrder{OrderID: "o-1", Cents: 4200})
	env.Settle(func() bool { return len(chargedOrders(env)) == 1 }, queue)
	env.ExactlyOnce(charged, []string{"o-1"}, chargedOrders(env),
		"The card processor timed out on the first attempt for o-1 (injected); a second attempt would have worked.")
	mustSettle(env, queue, "o-1")
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

// brokerNoticed waits until the broker has noticed that Billing died: its consumer is gone from the queue. The
// broker drops a dead channel's consumers and requeues what they had not acked in one step, so from here on whatever
// the broker kept is back in the queue, and Settle cannot call the system quiet before it is handled.
func brokerNoticed(env *harness.Env, queue string) {
	env.T.Helper()
	if !env.WaitConsumers(queue, 0) {
		env.T.Fatalf("the broker still counts a consumer on %q %v after Billing died", env.Short(queue), harness.Patience)
	}
}

// startBilling runs Billing's consumer as its own process and waits until it is consuming.
func startBilling(env *harness.Env, queue string, cards Cards) *harness.Process {
	env.T.Helper()
	proc := env.Process("billing")
	billing := &Billing{DB: proc.Pool(), Cards: cards, Points: proc.Points,
		Logf: func(format string, args ...any) { env.Log(proc.Name, format, args...) }}
	conn := proc.MustDial()
	proc.Go(func(ctx context.Context) error { return billing.Consume(ctx, conn, queue) })
	if !env.Eventually(func() bool { _, consumers, err := env.QueueDepth(queue); return err == nil && consumers > 0 }) {
		env.T.Fatalf("Billing did not start consuming %q: %v", env.Short(queue), proc.Err())
	}
	return proc
}

func chargedOrders(env *harness.Env) []string {
	return env.Strings(`SELECT order_id FROM charges ORDER BY order_id`)
}

// cardProcessor is an in-process stand-in for the payment provider. It fails the first charge of the orders in
// failOnce, as a provider that times out now and then would. It is safe for concurrent use.
type cardProcessor struct {
	env      *harness.Env
	mu       sync.Mutex
	failOnce map[string]bool
}

var errTimeout = errors.New("card processor timed out")

func (c *cardProcessor) Charge(_ context.Context, orderID string, cents int) error {
	c.mu.Lock()
	fail := c.failOnce[orderID]
	delete(c.failOnce, orderID)
	c.mu.Unlock()
	if fail {
		c.env.Log("cards", "charge %s: %v (injected)", orderID, errTimeout)
		return errTimeout
	}
	c.env.Log("cards", "charged %s %d cents", orderID, cents)
	return nil
}
