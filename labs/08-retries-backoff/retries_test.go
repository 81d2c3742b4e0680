// Do not edit: this test shows the failure.

package retries

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"msglabs/shared/harness"
	"msglabs/shared/shop"
	"msglabs/shared/story"
)

var billed = story.Expect{Item: "order", From: "sent to Billing", Done: "billed"}

const (
	// busyFor is how long the gateway answers "429 try later" for a rate-limited order, from the first call.
	busyFor = 100 * time.Millisecond
	// maxCalls is the most gateway calls for one order the test accepts: more is a retry storm.
	maxCalls = 20
	// stormGap: calls closer together than this on average are retries "at once".
	stormGap = 5 * time.Millisecond
	// minPatience is the least time Billing must keep retrying an order before giving up on it.
	minPatience = 100 * time.Millisecond
	// retryBound caps how long the test waits for retries to finish (they take a few hundred ms).
	retryBound = 2 * time.Second
)

// The gateway rate-limits order o-1 for a moment ("429 try later"). Billing must come back to o-1 later, with few
// calls, bill it once, and meanwhile bill o-2, which the gateway accepts at once.
func TestGatewayBusyIsRetriedLater(t *testing.T) {
	env := harness.New(t)
	env.Exec(Schema)
	queue := env.Name("billing")
	gw := newGateway(env)
	gw.limit(shop.OrderID(1))
	startBilling(env, queue, gw)

	send(env, queue, shop.BillOrder{OrderID: shop.OrderID(1), Cents: 4200}, shop.BillOrder{OrderID: shop.OrderID(2), Cents: 1700})
	sent := time.Now()
	both := func() bool { return gw.paidAt(shop.OrderID(1)) != nil && gw.paidAt(shop.OrderID(2)) != nil }
	env.EventuallyWithin(retryBound, func() bool { return both() || gw.storm() != "" })
	if id := gw.storm(); id != "" {
		gw.failStorm(id, fmt.Sprintf("o-2 billed meanwhile: %v.", gw.paidAt(shop.OrderID(2)) != nil))
	}
	ids := func() []string { return env.Strings(`SELECT order_id FROM charges`) }
	env.Eventually(func() bool { return len(ids()) == 2 })
	env.ExactlyOnce(billed, []string{shop.OrderID(1), shop.OrderID(2)}, ids(), gw.summary(shop.OrderID(1)))

	p1, p2 := gw.paidAt(shop.OrderID(1)), gw.paidAt(shop.OrderID(2))
	if p2.After(*p1) {
		env.FailWith(story.Stalled, []string{
			gw.summary(shop.OrderID(1)),
			fmt.Sprintf("the broker delivered bill-o-1 %d time(s)", env.Deliveries("bill-"+shop.OrderID(1))),
		}, "o-2, which the gateway would have accepted at once, was billed only after o-1, %v after it was sent: "+
			"while o-1 waited for the gateway it held Billing's only prefetch slot (requeued straight back to Billing, "+
			"or a sleep in the handler?); let the broker hold the delay", p2.Sub(sent).Round(time.Millisecond))
	}
}

// The gateway refuses order o-3 for good. Billing must retry it a bounded number of times over a while, then park it in
// the error queue (with its retry count) instead of losing it or looping on it.
func TestGatewayDownGoesToErrorQueue(t *testing.T) {
	env := harness.New(t)
	env.Exec(Schema)
	queue := env.Name("billing")
	gw := newGateway(env)
	id := shop.OrderID(3)
	gw.refuse(id)
	startBilling(env, queue, gw)

	send(env, queue, shop.BillOrder{OrderID: id, Cents: 990})
	parked := func() bool { n, _, err := env.QueueDepth(ErrorQueue(queue)); return err == nil && n == 1 }
	env.EventuallyWithin(retryBound, func() bool { return parked() || gw.storm() != "" })
	if s := gw.storm(); s != "" {
		gw.failStorm(s, "")
	}
	if !parked() {
		env.FailWith(story.Lost, []string{gw.summary(id)},
			"order %s is neither billed nor in the error queue %q %v after Billing first tried it",
			id, env.Short(ErrorQueue(queue)), retryBound)
	}
	calls := gw.calls(id)
	if span := calls[len(calls)-1].Sub(calls[0]); span < minPatience {
		env.FailWith(story.Lost, []string{gw.summary(id)},
			"Billing gave up on order %s after %v: a gateway hiccup of a fraction of a second sends orders to the error "+
				"queue (give it at least %v of retries)", id, span.Round(time.Millisecond), minPatience)
	}
	checkParked(env, ErrorQueue(queue), id)
}

// checkParked reads the message in the error queue: it must be the order, and say how often it was retried.
func checkParked(env *harness.Env, errorQueue, id string) {
	env.T.Helper()
	conn := env.Process("ops").MustDial()
	ch, err := conn.Channel()
	if err != nil {
		env.T.Fatalf("open channel: %v", err)
	}
	defer ch.Close()
	d, ok, err := ch.Get(errorQueue, false) // autoAck false: look, then put back
	if err != nil || !ok {
		env.T.Fatalf("read the error queue: ok=%v err=%v", ok, err)
	}
	defer func() { _ = d.Nack(false, true) }()
	var order shop.BillOrder
	if err := shop.Decode(d.Body, &order); err != nil || order.OrderID != id {
		env.Fail(story.Lost, "the error queue holds %q instead of order %s", d.Body, id)
	}
	if n := retries(d.Headers); n < 1 {
		env.Fail(story.Lost, "order %s reached the error queue without a %q header counting its delayed retries "+
			"(headers: %v): ops cannot tell a retried order from one that was never retried", id, RetriesHeader, d.Headers)
	}
}

func retries(h amqp.Table) int {
	switch v := h[RetriesHeader].(type) {
	case int32:
		return int(v)
	case int64:
		return int(v)
	case int:
		return v
	case string:
		n, _ := strconv.Atoi(v)
		return n
	}
	return 0
}

// startBilling runs one Billing instance on queue with gw as its payment gateway.
func startBilling(env *harness.Env, queue string, gw *gateway) {
	env.T.Helper()
	proc := env.Process("billing")
	conn := proc.MustDial()
	billing := &Billing{DB: proc.Pool(), Pay: gw.pay}
	consumer := &Consumer{Queue: queue, Handle: billing.Handle}
	ch, err := conn.Channel()
	if err != nil {
		env.T.Fatalf("open channel: %v", err)
	}
	if err := consumer.Setup(ch); err != nil {
		env.T.Fatalf("set up Billing's queues: %v", err)
	}
	_ = ch.Close()
	proc.Go(func(ctx context.Context) error { return consumer.Run(ctx, conn) })
	if !env.Eventually(func() bool { _, c, err := env.QueueDepth(queue); return err == nil && c > 0 }) {
		env.T.Fatalf("Billing did not start consuming %q: %v", env.Short(queue), proc.Err())
	}
}

// send publishes BillOrders to Billing's queue as Sales, each confirmed.
func send(env *harness.Env, queue string, orders ...shop.BillOrder) {
	env.T.Helper()
	pub := env.Publisher("sales")
	for _, o := range orders {
		pub.SendWithID("bill-"+o.OrderID, "", queue, o)
	}
}

// gateway is an in-process fake of the payment gateway (a third party, not the broker). It answers ErrTryLater to
// rate-limited orders for busyFor after their first call, and always to refused orders; it records every call.
type gateway struct {
	env *harness.Env

	mu      sync.Mutex
	limited map[string]bool
	refused map[string]bool
	log     map[string][]time.Time
	paid    map[string]time.Time
}

func newGateway(env *harness.Env) *gateway {
	return &gateway{env: env, limited: map[string]bool{}, refused: map[string]bool{}, log: map[string][]time.Time{}, paid: map[string]time.Time{}}
}

func (g *gateway) limit(id string)  { g.mu.Lock(); g.limited[id] = true; g.mu.Unlock() }
func (g *gateway) refuse(id string) { g.mu.Lock(); g.refused[id] = true; g.mu.Unlock() }

func (g *gateway) pay(_ context.Context, order shop.BillOrder) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := time.Now()
	id := order.OrderID
	g.log[id] = append(g.log[id], now)
	busy := g.refused[id] || (g.limited[id] && now.Sub(g.log[id][0]) < busyFor)
	if n := len(g.log[id]); n <= 3 || n == maxCalls+1 || !busy {
		g.env.Log("gateway", "call %d for %s → %s", n, id, answer(busy))
	}
	if busy {
		return ErrTryLater
	}
	if _, ok := g.paid[id]; !ok {
		g.paid[id] = now
	}
	return nil
}

func answer(busy bool) string {
	if busy {
		return "429 try later"
	}
	return "200 paid"
}

func (g *gateway) calls(id string) []time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]time.Time(nil), g.log[id]...)
}

func (g *gateway) paidAt(id string) *time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	if at, ok := g.paid[id]; ok {
		return &at
	}
	return nil
}

// storm returns an order the gateway was called for more than maxCalls times, or "".
func (g *gateway) storm() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	for id, calls := range g.log {
		if len(calls) > maxCalls {
			return id
		}
	}
	return ""
}

func (g *gateway) failStorm(id, detail string) {
	g.env.T.Helper()
	calls := g.calls(id)
	span := calls[len(calls)-1].Sub(calls[0])
	details := []string{g.summary(id)}
	if detail != "" {
		details = append(details, detail)
	}
	every := span / time.Duration(len(calls)-1)
	why := "the message goes straight back into the queue and is retried at once"
	if every >= stormGap {
		why = "Billing never gives up on it, so it loops instead of reaching the error queue"
	}
	g.env.FailWith(story.Stalled, details,
		"BillOrder %s loops: Billing called the gateway %d times for it in %v (one call every %v), each answered "+
			"\"429 try later\": %s", id, len(calls), span.Round(time.Millisecond), every.Round(10*time.Microsecond), why)
}

// summary describes the calls for an order: how many, and the gaps between them.
func (g *gateway) summary(id string) string {
	calls := g.calls(id)
	if len(calls) == 0 {
		return fmt.Sprintf("the gateway was never called for %s", id)
	}
	gaps := ""
	for i := 1; i < len(calls) && i <= 12; i++ {
		gaps += " " + calls[i].Sub(calls[i-1]).Round(100*time.Microsecond).String()
	}
	return fmt.Sprintf("gateway calls for %s: %d; gaps between them:%s", id, len(calls), gaps)
}
