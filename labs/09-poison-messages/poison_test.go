// Do not edit: this test shows the failure.

package poison

import (
	"context"
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

// loopProof is how many deliveries of one message prove that it is going round in a loop: a bounded retry gives up
// after a few attempts, long before this.
const loopProof = 10

// orderCents is what every good order in these tests costs.
const orderCents = 1000

// A BillOrder that cannot be decoded is first in Billing's queue, three good orders wait behind it. The bad one must be
// parked in the error queue and the good ones charged, o-2 despite the gateway failing once on it.
func TestMalformedOrderDoesNotStallBilling(t *testing.T) {
	env := harness.New(t)
	env.Exec(Schema)
	queue, errorQueue := declareQueues(env)
	gw := newGateway(env)
	gw.failNext("o-2", 1) // a passing hiccup: the second try must go through

	sales := env.Publisher("sales")
	poisonID := env.NextMessageID()
	sales.Raw("", queue, amqp.Publishing{
		MessageId:    poisonID,
		Type:         "BillOrder",
		ContentType:  shop.ContentType,
		DeliveryMode: amqp.Persistent,
		Body:         []byte(`{"order_id":"o-0","amount_cents":"forty-two"}`), // a string where a number belongs
	})
	good := []string{"o-1", "o-2", "o-3"}
	for _, id := range good {
		sales.Send("", queue, shop.BillOrder{OrderID: id, Cents: orderCents})
	}
	startBilling(env, gw, queue, errorQueue)

	allCharged := func() bool { return len(gw.Charges()) >= len(good) && env.MustDepth(errorQueue) >= 1 }
	goodParked := func() bool { return env.MustDepth(errorQueue) > 1 } // more than the one bad message
	env.Eventually(func() bool { return allCharged() || goodParked() || env.Deliveries(poisonID) >= loopProof })
	if n := env.Deliveries(poisonID); n >= loopProof && len(gw.Charges()) < len(good) {
		env.FailWith(story.Stalled, []string{
			"Billing nacks it with requeue=true: it goes back to the head of the queue and, with prefetch 1, straight back to Billing.",
			"It will never decode, however often it is tried.",
		}, "message %s (a BillOrder for o-0 that cannot be decoded) was delivered %d times and is still going round; orders %v behind it were never charged (charged so far: %v)",
			poisonID, n, good, gw.Charges())
	}
	env.Settle(allCharged, queue)
	var details []string
	if n := env.MustDepth(errorQueue); n > 1 {
		details = append(details, fmt.Sprintf("%d messages wait in the error queue, not just %s: a good order was parked "+
			"after a passing gateway failure (o-2 fails once) instead of being tried again", n, poisonID))
	}
	env.ExactlyOnce(charged, good, gw.Charges(), details...)
	requireParked(env, errorQueue, queue, poisonID, "a BillOrder for o-0 that cannot be decoded")
}

// A BillOrder for a negative amount can never be charged. Billing must not just drop it: it belongs in the error
// queue, with the reason, so someone can look at it and, once it is corrected upstream, replay it.
func TestRefusedOrderLeavesATrace(t *testing.T) {
	env := harness.New(t)
	env.Exec(Schema)
	queue, errorQueue := declareQueues(env)
	gw := newGateway(env)

	sales := env.Publisher("sales")
	refusedID := sales.Send("", queue, shop.BillOrder{OrderID: "o-9", Cents: -500})
	sales.Send("", queue, shop.BillOrder{OrderID: "o-1", Cents: orderCents})
	startBilling(env, gw, queue, errorQueue)

	env.Settle(func() bool { return len(gw.Charges()) >= 1 && env.MustDepth(errorQueue) >= 1 }, queue)
	env.ExactlyOnce(charged, []string{"o-1"}, gw.Charges())
	requireParked(env, errorQueue, queue, refusedID, "a BillOrder for o-9 of -500 cents")
}

// The payment gateway is down for o-1: after a few tries Billing parks it in the error queue and carries on with o-2.
// When the gateway is back, an operator replays it; the first replay crashes after publishing, before acking the
// message off the error queue, so the operator replays again. The customer must be charged once.
func TestReplayAfterGatewayOutageChargesOnce(t *testing.T) {
	env := harness.New(t)
	env.Exec(Schema)
	queue, errorQueue := declareQueues(env)
	gw := newGateway(env)
	gw.failNext("o-1", -1) // down for o-1 until the test says otherwise

	sales := env.Publisher("sales")
	stuckID := sales.Send("", queue, shop.BillOrder{OrderID: "o-1", Cents: orderCents})
	sales.Send("", queue, shop.BillOrder{OrderID: "o-2", Cents: orderCents})
	startBilling(env, gw, queue, errorQueue)

	parkedAndMovedOn := func() bool { return env.MustDepth(errorQueue) == 1 && len(gw.Charges()) >= 1 }
	env.Eventually(func() bool { return parkedAndMovedOn() || env.Deliveries(stuckID) >= loopProof })
	if n := env.Deliveries(stuckID); n >= loopProof && !parkedAndMovedOn() {
		env.FailWith(story.Stalled, []string{
			"Billing nacks it with requeue=true every time: with prefetch 1 nothing else gets a turn.",
		}, "message %s (BillOrder o-1) was delivered %d times while the payment gateway was down and was never parked in the error queue; o-2 behind it was never charged",
			stuckID, n)
	}
	env.Settle(parkedAndMovedOn, queue)
	if !parkedAndMovedOn() {
		env.Fail(story.Lost, "message %s (BillOrder o-1, failing while the payment gateway was down) never reached the error queue %q",
			stuckID, env.Short(errorQueue))
	}

	gw.failNext("o-1", 0)
	env.Log("test", "the payment gateway is back; the operator replays %s", stuckID)
	replayCrashing(env, errorQueue, stuckID)
	if !env.Eventually(func() bool { return env.MustDepth(errorQueue) == 1 }) {
		env.Fail(story.Lost, "after the first replay crashed before acking, %s was no longer in the error queue", stuckID)
	}
	moved, err := replay(env, errorQueue, stuckID)
	if err != nil || moved != 1 {
		env.Fail(story.Stalled, "the second replay of %s moved %d message(s) back to %q: %v", stuckID, moved, env.Short(queue), err)
	}
	env.WaitDrained(queue)
	env.ExactlyOnce(charged, []string{"o-1", "o-2"}, gw.Charges(),
		fmt.Sprintf("%s was replayed twice: the first replay crashed after publishing it, before acking it off the error queue.", stuckID))
	if n := env.MustDepth(errorQueue); n != 0 {
		env.Fail(story.Stalled, "%d message(s) still wait in the error queue after %s was replayed", n, stuckID)
	}
}

// declareQueues declares Billing's queue and error queue up front, so the test can fill them before Billing starts.
func declareQueues(env *harness.Env) (queue, errorQueue string) {
	env.T.Helper()
	queue, errorQueue = env.Name("billing"), env.Name("billing.error")
	ch, err := env.Process("ops").MustDial().Channel()
	if err != nil {
		env.T.Fatalf("open channel: %v", err)
	}
	defer ch.Close()
	if err := DeclareQueues(ch, queue, errorQueue); err != nil {
		env.T.Fatal(err)
	}
	return queue, errorQueue
}

// startBilling runs Billing as its own process and waits until it consumes.
func startBilling(env *harness.Env, gw Gateway, queue, errorQueue string) {
	env.T.Helper()
	proc := env.Process("billing")
	billing := &Billing{DB: proc.Pool(), Gateway: gw, Queue: queue, ErrorQueue: errorQueue}
	conn := proc.MustDial()
	proc.Go(func(ctx context.Context) error { return billing.Consume(ctx, conn) })
	if !env.Eventually(func() bool { _, consumers, err := env.QueueDepth(queue); return err == nil && consumers > 0 }) {
		env.T.Fatalf("Billing did not start consuming %q: %v", env.Short(queue), proc.Err())
	}
}

// requireParked fails the test unless the message with id waits in the error queue, unchanged and with its diagnosis.
// It leaves the queue as it found it.
func requireParked(env *harness.Env, errorQueue, queue, id, what string) {
	env.T.Helper()
	ch, err := env.Process("operator").MustDial().Channel()
	if err != nil {
		env.T.Fatalf("open channel: %v", err)
	}
	defer ch.Close() // puts back everything we looked at
	for {
		d, ok, err := ch.Get(errorQueue, false) // autoAck=false: only looking
		if err != nil {
			env.T.Fatalf("look into %q: %v", env.Short(errorQueue), err)
		}
		if !ok {
			env.Fail(story.Lost, "message %s (%s) vanished: it is in neither %q nor the error queue %q, so nobody can see why it failed or replay it",
				id, what, env.Short(queue), env.Short(errorQueue))
		}
		if d.MessageId == id {
			checkDiagnosis(env, d, queue)
			return
		}
	}
}

// checkDiagnosis fails the test unless a parked message says what went wrong, where, how often and when.
func checkDiagnosis(env *harness.Env, d amqp.Delivery, queue string) {
	env.T.Helper()
	missing := func(h string) {
		env.Fail(story.Lost, "message %s reached the error queue without its diagnosis: header %q is missing or empty (headers: %v)",
			d.MessageId, h, d.Headers)
	}
	for _, h := range []string{HeaderError, HeaderStack, HeaderFailedAt} {
		if s, _ := d.Headers[h].(string); s == "" {
			missing(h)
		}
	}
	if at, _ := d.Headers[HeaderFailedAt].(string); !isTime(at) {
		env.Fail(story.Lost, "message %s: header %q = %q is not an RFC 3339 time", d.MessageId, HeaderFailedAt, at)
	}
	if q, _ := d.Headers[HeaderOriginalQueue].(string); q != queue {
		env.Fail(story.Lost, "message %s: header %q = %q, want %q: a replay would not know where to send it",
			d.MessageId, HeaderOriginalQueue, q, env.Short(queue))
	}
	if n := headerInt(d.Headers[HeaderAttempts]); n < 1 {
		missing(HeaderAttempts)
	}
	if d.Type != "BillOrder" || len(d.Body) == 0 {
		env.Fail(story.Lost, "message %s reached the error queue altered (type %q, %d-byte body): it can no longer be replayed as it was",
			d.MessageId, d.Type, len(d.Body))
	}
}

func isTime(s string) bool {
	_, err := time.Parse(time.RFC3339, s)
	return err == nil
}

// headerInt reads an integer header whichever integer type the publisher chose; 0 when absent.
func headerInt(v any) int {
	switch n := v.(type) {
	case int:
		return n
	case int8:
		return int(n)
	case int16:
		return int(n)
	case int32:
		return int(n)
	case int64:
		return int(n)
	case uint8:
		return int(n)
	case uint16:
		return int(n)
	case uint32:
		return int(n)
	}
	return 0
}

// replayCrashing runs a replay of id that dies right after publishing it back, before acking it off the error queue.
func replayCrashing(env *harness.Env, errorQueue, id string) {
	env.T.Helper()
	proc := env.Process("replay")
	proc.Points.Arm(fault.AfterPublish)
	r := &Replayer{Broker: proc.MustDial(), ErrorQueue: errorQueue, Points: proc.Points}
	proc.Go(func(ctx context.Context) error { _, err := r.Replay(ctx, []string{id}); return err })
	select {
	case <-proc.Points.Crashed():
	case <-time.After(harness.Patience):
		env.Fail(story.Stalled, "the replay of %s never published it back (error: %v)", id, proc.Err())
	}
}

// replay runs a replay of id to the end and returns how many messages it moved.
func replay(env *harness.Env, errorQueue, id string) (int, error) {
	env.T.Helper()
	proc := env.Process("replay")
	r := &Replayer{Broker: proc.MustDial(), ErrorQueue: errorQueue, Points: proc.Points}
	type result struct {
		moved int
		err   error
	}
	done := make(chan result, 1)
	proc.Go(func(ctx context.Context) error {
		moved, err := r.Replay(ctx, []string{id})
		done <- result{moved, err}
		return err
	})
	select {
	case res := <-done:
		return res.moved, res.err
	case <-time.After(harness.Patience):
		return 0, fmt.Errorf("replay did not finish within %v", harness.Patience)
	}
}

// gateway is an in-memory payment provider. It charges unless told to fail for an order. Safe for concurrent use.
type gateway struct {
	env *harness.Env

	mu       sync.Mutex
	failures map[string]int // order id → failures still to come; negative: until told otherwise
	charges  []string       // order ids, one per successful charge
}

func newGateway(env *harness.Env) *gateway { return &gateway{env: env, failures: map[string]int{}} }

// failNext makes the next n charges of orderID fail as unavailable (n < 0: every charge, until called again).
func (g *gateway) failNext(orderID string, n int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.failures[orderID] = n
}

// Charge implements Gateway.
func (g *gateway) Charge(_ context.Context, orderID string, cents int) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if n := g.failures[orderID]; n != 0 {
		if n > 0 {
			g.failures[orderID] = n - 1
		}
		g.env.Log("gateway", "unavailable: could not charge %s", orderID)
		return fmt.Errorf("charge %s: %w", orderID, ErrGatewayDown)
	}
	g.charges = append(g.charges, orderID)
	g.env.Log("gateway", "charged %s %d cents", orderID, cents)
	return nil
}

// Charges lists the orders charged so far, once per charge.
func (g *gateway) Charges() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.charges...)
}
