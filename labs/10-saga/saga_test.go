// Do not edit: this test shows the failure.

package saga

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	amqp "github.com/rabbitmq/amqp091-go"

	"msglabs/shared/fault"
	"msglabs/shared/harness"
	"msglabs/shared/shop"
	"msglabs/shared/story"
)

// The policy runs in OS processes of its own (harness.Spawn): two instances share nothing but the database and the
// broker, as in production, so a lock in Go memory serialises nothing between them, and a restart loses every timer
// in memory.
func TestMain(m *testing.M) { harness.Main(m, harness.Roles{"policy": runPolicy}) }

// runPolicy runs one policy instance in its own process. With "hold" set, the policy asks the test after each read of
// a saga (AfterLoad), and waits for the answer.
func runPolicy(ctx context.Context, s *harness.Service) error {
	var top Topology
	if err := json.Unmarshal([]byte(s.Arg("topology")), &top); err != nil {
		return fmt.Errorf("topology: %w", err)
	}
	timeout, err := time.ParseDuration(s.Arg("payment-timeout"))
	if err != nil {
		return fmt.Errorf("payment timeout: %w", err)
	}
	p := &Policy{DB: s.Pool(), Topology: top, PaymentTimeout: timeout}
	if s.Arg("hold") != "" {
		p.AfterLoad = func(orderID string) { s.Call("after-load", orderID) }
	}
	return p.Run(ctx, s.MustDial())
}

const (
	// paymentTimeout is how long an order may wait for its payment in these tests.
	paymentTimeout = 400 * time.Millisecond
	// restartTimeout is the payment timeout in TestPaymentTimeoutSurvivesRestart, and redeployAfter how long after
	// its first restart that test redeploys the policy again: before o-1's timeout is due, and late enough that a
	// timeout started again at a restart goes off far too late.
	restartTimeout = 600 * time.Millisecond
	redeployAfter  = 400 * time.Millisecond
	// barrierPatience is a backstop: the longest the barrier holds one handler while it waits for the other. A policy
	// that locks the saga's row makes the second handler wait on that lock instead of at the barrier; the barrier sees
	// that in PostgreSQL and lets the first one go at once (see barrier.wait). Only a wait the barrier cannot see pays
	// this.
	barrierPatience = 2 * time.Second
	// lockPoll is how often the barrier looks for a handler that waits on a database lock.
	lockPoll = 5 * time.Millisecond
	// orderCents is what every order costs.
	orderCents = 4200
)

var (
	shipped  = story.Expect{Item: "order", From: "placed and billed", Done: "shipped"}
	released = story.Expect{Item: "order", From: "left unpaid", Done: "released from stock"}
	refunded = story.Expect{Item: "order", From: "billed after it was cancelled", Done: "refunded"}
)

// Events do not arrive in the order they were sent, and some arrive twice. Four orders, each with its events in
// another order: o-1 placed then billed; o-2 billed before it was placed; o-3 billed, placed, and billed again (Billing
// published its event twice); o-4 placed, billed, and placed again. Each must ship, once.
func TestEveryEventOrderShipsOnce(t *testing.T) {
	w := newWorld(harness.New(t))
	w.startPolicy("policy", nil)

	placed := func(id string) shop.Message { return shop.OrderPlaced{OrderID: id, Customer: "ann", Cents: orderCents} }
	billed := func(id string) shop.Message { return shop.OrderBilled{OrderID: id, Cents: orderCents} }
	events := []struct {
		order string
		msgs  []shop.Message
	}{
		{"o-1", []shop.Message{placed("o-1"), billed("o-1")}},
		{"o-2", []shop.Message{billed("o-2"), placed("o-2")}},
		{"o-3", []shop.Message{billed("o-3"), placed("o-3"), billed("o-3")}},
		{"o-4", []shop.Message{placed("o-4"), billed("o-4"), placed("o-4")}},
	}
	var want []string
	for _, e := range events {
		want = append(want, e.order)
		for _, m := range e.msgs {
			w.publish(m)
		}
	}
	w.env.Settle(func() bool { return len(w.shipping.got()) >= len(want) && w.idle() }, w.top.Policy, w.top.Shipping)
	for _, e := range events {
		if !contains(w.shipping.got(), e.order) {
			w.env.FailWith(story.Stalled, []string{"saga of " + e.order + " in the database: " + w.sagaRow(e.order)},
				"order %s was placed and paid but never shipped: its events came in this order: %s", e.order,
				names(e.msgs))
		}
	}
	w.env.ExactlyOnce(shipped.Because("their events came in every order, o-3's payment and o-4's placement twice"),
		want, w.shipping.got())
}

// Two instances of the policy run side by side. o-1's OrderPlaced and OrderBilled reach them at the same moment and
// are held at a barrier right after each read the saga, then let go together. The order must ship, once.
func TestSimultaneousEventsShipOnce(t *testing.T) {
	w := newWorld(harness.New(t))
	b := w.newBarrier(2)
	w.startPolicy("policy-a", b)
	w.startPolicy("policy-b", b)

	b.arm()
	w.publish(shop.OrderPlaced{OrderID: "o-1", Customer: "ann", Cents: orderCents})
	w.publish(shop.OrderBilled{OrderID: "o-1", Cents: orderCents})

	w.env.Settle(func() bool { return len(w.shipping.got()) >= 1 && w.idle() }, w.top.Policy, w.top.Shipping)
	if len(w.shipping.got()) == 0 {
		w.env.FailWith(story.Stalled, []string{
			"saga of o-1 in the database: " + w.sagaRow("o-1"),
			"Each instance read the saga before the other saved it and decided on what it had read: one event's effect was lost.",
		}, "order o-1 was placed and paid but never shipped: its OrderPlaced and OrderBilled were handled at the same moment by two instances of the policy")
	}
	w.env.ExactlyOnce(shipped, []string{"o-1"}, w.shipping.got())
}

// o-1 is placed. Then Billing's event for it reaches the policy twice (its publisher retried after a lost confirm),
// one copy to each of two instances, at the same moment: both read the saga, then go on together. o-1 must ship once.
func TestSimultaneousPaymentsShipOnce(t *testing.T) {
	w := newWorld(harness.New(t))
	b := w.newBarrier(2)
	w.startPolicy("policy-a", b)
	w.startPolicy("policy-b", b)

	w.publish(shop.OrderPlaced{OrderID: "o-1", Customer: "ann", Cents: orderCents})
	if !w.env.Eventually(func() bool { return w.sagaRow("o-1") != noRow && w.idle() }) {
		t.Fatalf("the policy never saved o-1's saga: %s", w.sagaRow("o-1"))
	}
	b.arm()
	paid := shop.OrderBilled{OrderID: "o-1", Cents: orderCents}
	id := w.publish(paid)
	w.events.SendWithID(id, w.top.Events, paid.MessageType(), paid) // the retry: same message, same id

	w.env.Settle(func() bool { return len(w.shipping.got()) >= 2 && w.idle() }, w.top.Policy, w.top.Shipping)
	w.env.ExactlyOnce(shipped.Because("its OrderBilled %s reached two instances of the policy at the same moment", id),
		[]string{"o-1"}, w.shipping.got(),
		"Each instance read the saga before the other saved it, and each decided to ship: only the save that wins may send.")
}

// The database fails the policy's first write (a failover, a deadlock victim). The policy must try that message
// again, go on with the next one, and ship o-1.
func TestSagaSurvivesAFailedSave(t *testing.T) {
	w := newWorld(harness.New(t))
	policy := w.startPolicy("policy", nil)
	failed := w.env.FailWrites("shipping_sagas", 1)

	w.publish(shop.OrderPlaced{OrderID: "o-1", Customer: "ann", Cents: orderCents})
	w.publish(shop.OrderBilled{OrderID: "o-1", Cents: orderCents})
	w.env.Settle(func() bool { return len(w.shipping.got()) >= 1 && w.idle() || policy.Dead() }, w.top.Policy, w.top.Shipping)
	if policy.Dead() || len(w.shipping.got()) == 0 {
		_, consumers, _ := w.env.QueueDepth(w.top.Policy)
		w.env.FailWith(story.Stalled, []string{fmt.Sprintf("the database failed %d write(s); the policy's queue has %d "+
			"consumer(s); the policy: %v", failed.Failed(), consumers, policy.Err())},
			"order o-1 was placed and paid but never shipped: one failed save stopped the policy (a handler error must "+
				"put the message back and go on, not end the consumer)")
	}
	w.env.ExactlyOnce(shipped, []string{"o-1"}, w.shipping.got())
}

// The policy is redeployed (killed and started again) twice while o-1 waits for its payment: right as it is done with
// o-1's OrderPlaced (its ack never leaves, so the next instance gets o-1's OrderPlaced again), and once more 400 ms
// later, as it receives o-2's OrderPlaced. No payment comes for o-1: the instance running when its timeout is due
// must cancel it (releasing its stock), on time: 600 ms after o-1 was placed, not 600 ms after a restart.
func TestPaymentTimeoutSurvivesRestart(t *testing.T) {
	w := newWorld(harness.New(t))
	first := w.startPolicyWith("policy", nil, restartTimeout)
	o1 := w.env.NextMessageID()
	first.CrashOn(fault.BeforeAckOf(o1))
	placed := shop.OrderPlaced{OrderID: "o-1", Customer: "ann", Cents: orderCents}
	w.events.SendWithID(o1, w.top.Events, placed.MessageType(), placed)
	w.redeployed(first, "as it acked o-1's OrderPlaced")

	second := w.startPolicyWith("policy", nil, restartTimeout)
	o2 := w.env.NextMessageID()
	second.CrashOn(fault.AfterDeliveryOf(o2, 1))
	w.publishLater(o2, shop.OrderPlaced{OrderID: "o-2", Customer: "bob", Cents: orderCents}, redeployAfter)
	w.redeployed(second, fmt.Sprintf("as it received o-2's OrderPlaced, %v later", redeployAfter))
	// No timer the last instance arms, in memory or as a fresh message, can go off before overdue: a cancellation
	// then or later is a timeout that started over. One that waited in the broker since o-1 was placed goes off
	// restartTimeout after that, and only the broker's delay (more on a busy machine) stands between it and overdue.
	overdue := w.env.Timeline.Elapsed() + restartTimeout
	w.startPolicyWith("policy", nil, restartTimeout)
	w.publish(shop.OrderBilled{OrderID: "o-2", Cents: orderCents})

	placedAt := w.at(story.Publish, "", o1)
	cancelled := func() bool { return contains(w.warehouse.got(), "o-1") }
	w.env.EventuallyWithin(overdue-w.env.Timeline.Elapsed(), cancelled)
	w.env.Settle(func() bool { return cancelled() && len(w.shipping.got()) >= 1 && w.idle() },
		w.top.Policy, w.top.Warehouse, w.top.Shipping)
	if !cancelled() {
		w.env.FailWith(story.Stalled, []string{
			fmt.Sprintf("still not cancelled %v after it was placed", (w.env.Timeline.Elapsed() - placedAt).Round(time.Millisecond)),
			"saga of o-1 in the database: " + w.sagaRow("o-1")},
			"order o-1 was never cancelled although its %v payment timeout was long due and an instance was running: "+
				"the timeout died with the policy restarted as it finished with o-1's OrderPlaced, or started over when "+
				"the policy restarted; a policy restarted often never cancels, and the stock stays reserved", restartTimeout)
	}
	cancelledAt := w.at(story.Deliver, "", "release-o-1")
	if after := cancelledAt - placedAt; after < restartTimeout {
		w.env.FailWith(story.Lost, []string{"saga of o-1 in the database: " + w.sagaRow("o-1")},
			"order o-1 was cancelled %v after it was placed, before its %v payment timeout was up: a customer who pays "+
				"in time loses the order; the reminder must wait until it is due", after.Round(time.Millisecond), restartTimeout)
	}
	if cancelledAt >= overdue {
		w.env.FailWith(story.Stalled, []string{"saga of o-1 in the database: " + w.sagaRow("o-1")},
			"order o-1 was cancelled %v after it was placed, %v after the policy last restarted: its %v payment "+
				"timeout started again when the policy restarted; a policy restarted often never cancels",
			(cancelledAt - placedAt).Round(time.Millisecond), (cancelledAt - (overdue - restartTimeout)).Round(time.Millisecond),
			restartTimeout)
	}
	w.env.ExactlyOnce(released.Because("the policy was restarted twice while o-1 waited for its payment"),
		[]string{"o-1"}, w.warehouse.got())
	w.env.ExactlyOnce(shipped, []string{"o-2"}, w.shipping.got())
}

// redeployed waits until a policy instance died of the crash armed on it, and until the broker has noticed.
func (w *world) redeployed(p *harness.Process, when string) {
	w.env.T.Helper()
	select {
	case <-p.Crashed():
	case <-time.After(harness.Patience):
		w.env.T.Fatalf("%s never got to the moment it was to be redeployed (%s): %v", p.Name, when, p.Err())
	}
	w.env.Log("test", "the policy was redeployed %s", when)
	if !w.env.WaitConsuming(w.top.Policy, 0) {
		w.env.T.Fatalf("the broker still counts the killed %s as a consumer of %q", p.Name, w.env.Short(w.top.Policy))
	}
}

// o-1's payment does not come in time: the order is cancelled and its stock released. Then the money arrives after
// all, and Billing's event for it arrives twice. The customer must get the money back, once, and o-1 must not ship.
// o-2, paid in time, ships and is not refunded.
func TestLatePaymentIsRefunded(t *testing.T) {
	w := newWorld(harness.New(t))
	w.startPolicy("policy", nil)

	w.publish(shop.OrderPlaced{OrderID: "o-1", Customer: "ann", Cents: orderCents})
	w.publish(shop.OrderPlaced{OrderID: "o-2", Customer: "bob", Cents: orderCents})
	w.publish(shop.OrderBilled{OrderID: "o-2", Cents: orderCents})
	if !w.env.EventuallyWithin(paymentTimeout+harness.Patience, func() bool { return len(w.warehouse.got()) >= 1 }) {
		w.env.Fail(story.Stalled, "order o-1 was never cancelled although its payment did not come within %v", paymentTimeout)
	}
	w.env.Log("test", "o-1 was cancelled; now its payment arrives, late, and Billing's event for it twice")
	late := shop.OrderBilled{OrderID: "o-1", Cents: orderCents}
	id := w.publish(late)
	w.events.SendWithID(id, w.top.Events, late.MessageType(), late)

	w.env.Settle(func() bool {
		return len(w.billing.got()) >= 1 && w.env.MustDepth(w.top.Timeouts) == 0 && w.idle()
	}, w.top.Policy, w.top.Timeouts, w.top.Billing)
	w.env.ExactlyOnce(refunded.Because("o-1 was cancelled after %v without payment; its OrderBilled (%d cents) came "+
		"after that, twice", paymentTimeout, orderCents), []string{"o-1"}, w.billing.got())
	w.env.ExactlyOnce(shipped.Because("o-1 was cancelled before its payment came"), []string{"o-2"}, w.shipping.got())
	w.env.ExactlyOnce(released, []string{"o-1"}, w.warehouse.got())
}

// world is one test's shop around the policy: the topology, a publisher for events, and the services downstream
// (Shipping, the warehouse, Billing) that record which orders they were told about.
type world struct {
	env                          *harness.Env
	top                          Topology
	events                       *harness.Publisher
	shipping, warehouse, billing *sink
}

func newWorld(env *harness.Env) *world {
	env.T.Helper()
	env.Exec(Schema)
	top := Topology{
		Events:    env.Name("events"),
		Policy:    env.Name("shipping-policy"),
		Timeouts:  env.Name("shipping-policy.timeouts"),
		Shipping:  env.Name("shipping"),
		Warehouse: env.Name("warehouse"),
		Billing:   env.Name("billing-refunds"),
	}
	ch, err := env.Process("ops").MustDial().Channel()
	if err != nil {
		env.T.Fatalf("open channel: %v", err)
	}
	defer ch.Close()
	if err := top.Declare(ch); err != nil {
		env.T.Fatal(err)
	}
	return &world{
		env:       env,
		top:       top,
		events:    env.Publisher("sales+billing"),
		shipping:  startSink(env, "shipping", top.Shipping),
		warehouse: startSink(env, "warehouse", top.Warehouse),
		billing:   startSink(env, "billing", top.Billing),
	}
}

// startPolicy starts one policy instance as a process of its own and waits until it consumes; with b set, the
// instance stops at b after every read of a saga.
func (w *world) startPolicy(name string, b *barrier) *harness.Process {
	w.env.T.Helper()
	return w.startPolicyWith(name, b, paymentTimeout)
}

func (w *world) startPolicyWith(name string, b *barrier, timeout time.Duration) *harness.Process {
	w.env.T.Helper()
	top, err := json.Marshal(w.top)
	if err != nil {
		w.env.T.Fatal(err)
	}
	args := harness.Args{"topology": string(top), "payment-timeout": timeout.String()}
	if b != nil {
		args["hold"] = "yes"
	}
	_, before, _ := w.env.QueueDepth(w.top.Policy)
	proc := w.env.SpawnRole(name, "policy", args)
	if b != nil {
		proc.On("after-load", func(orderID string) string { b.wait(proc.Name, orderID); return "" })
	}
	if !w.env.WaitConsuming(w.top.Policy, before+1) {
		w.env.T.Fatalf("%s did not start consuming: %v", proc.Name, proc.Err())
	}
	return proc
}

// publish publishes an event the way Sales or Billing does: to the events exchange, keyed by its type. It returns the
// message id.
func (w *world) publish(m shop.Message) string {
	w.env.T.Helper()
	return w.events.Send(w.top.Events, m.MessageType(), m)
}

// publishLater publishes an event with the given id that reaches the policy only after delay: the test parks it in a
// delay line of its own, a queue nobody consumes that dead-letters it to the events exchange when it expires.
func (w *world) publishLater(id string, m shop.Message, delay time.Duration) {
	w.env.T.Helper()
	line := w.env.Name("later")
	ch, err := w.env.Process("ops").MustDial().Channel()
	if err != nil {
		w.env.T.Fatalf("open channel: %v", err)
	}
	defer ch.Close()
	_, err = ch.QueueDeclare(line, true, false, false, false, amqp.Table{ // durable, autoDelete, exclusive, noWait
		"x-dead-letter-exchange":    w.top.Events,
		"x-dead-letter-routing-key": m.MessageType(),
	})
	if err != nil {
		w.env.T.Fatalf("declare the test's delay line: %v", err)
	}
	body, err := shop.Encode(m)
	if err != nil {
		w.env.T.Fatal(err)
	}
	w.env.Publisher("sales (later)").Raw("", line, amqp.Publishing{
		MessageId:    id,
		Type:         m.MessageType(),
		ContentType:  shop.ContentType,
		DeliveryMode: amqp.Persistent,
		Expiration:   fmt.Sprint(delay.Milliseconds()),
		Body:         body,
	})
}

// at is when the timeline first shows an entry of this kind about message (a message id, or for a consumer the queue
// it consumes), by actor ("" for anyone); 0 when it shows none.
func (w *world) at(kind story.Kind, actor, message string) time.Duration {
	for _, e := range w.env.Timeline.Entries() {
		about := e.Message
		if kind == story.Consume {
			about = e.Peer
		}
		if e.Kind == kind && about == message && (actor == "" || e.Actor == actor) {
			return e.At
		}
	}
	return 0
}

// idle reports whether every delivery has been settled and no command waits downstream.
func (w *world) idle() bool {
	for _, q := range []string{w.top.Policy, w.top.Shipping, w.top.Warehouse, w.top.Billing} {
		if n, _, err := w.env.QueueDepth(q); err != nil || n > 0 {
			return false
		}
	}
	return w.env.Unacked() == 0
}

// noRow is what sagaRow says for an order without a saga.
const noRow = "(no row)"

// sagaRow shows an order's saga as the database has it, for failure details.
func (w *world) sagaRow(orderID string) string {
	rows := w.env.Strings(`SELECT row_to_json(s)::text FROM shipping_sagas s WHERE order_id = $1`, orderID)
	if len(rows) == 0 {
		return noRow
	}
	return rows[0]
}

// names lists message types for a story: "OrderBilled, OrderPlaced, OrderBilled".
func names(msgs []shop.Message) string {
	parts := make([]string, len(msgs))
	for i, m := range msgs {
		parts[i] = m.MessageType()
	}
	return strings.Join(parts, ", ")
}

// sink is a downstream service that records the order of every command it receives, and acks it.
type sink struct {
	mu     sync.Mutex
	orders []string
}

func startSink(env *harness.Env, name, queue string) *sink {
	env.T.Helper()
	s := &sink{}
	proc := env.Process(name)
	ch, err := proc.MustDial().Channel()
	if err != nil {
		env.T.Fatalf("open channel: %v", err)
	}
	deliveries, err := ch.Consume(queue, "", false, false, false, false, nil) // autoAck, exclusive, noLocal, noWait: false
	if err != nil {
		env.T.Fatalf("consume %q: %v", queue, err)
	}
	proc.Go(func(ctx context.Context) error {
		for {
			select {
			case <-ctx.Done():
				return nil
			case d, ok := <-deliveries:
				if !ok {
					return nil
				}
				s.record(d)
				_ = d.Ack(false)
			}
		}
	})
	return s
}

func (s *sink) record(d amqp.Delivery) {
	var about struct {
		OrderID string `json:"order_id"`
	}
	_ = json.Unmarshal(d.Body, &about)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.orders = append(s.orders, about.OrderID)
}

func (s *sink) got() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.orders...)
}

// barrier holds the first n reads of a saga after arm until all n have arrived, then lets them go together; other
// reads pass at once. When the other handler cannot arrive because it waits on a database lock held by the one at
// the barrier (a policy that locks the saga's row), the held handler is let go at once; barrierPatience is the
// backstop for any other wait. It is safe for concurrent use.
type barrier struct {
	env     *harness.Env
	db      *pgxpool.Pool
	mu      sync.Mutex
	armed   bool
	waiting int
	n       int
	open    chan struct{}
}

func (w *world) newBarrier(n int) *barrier {
	return &barrier{env: w.env, db: w.env.DB(), n: n, open: make(chan struct{})}
}

// arm makes the barrier hold the next n reads.
func (b *barrier) arm() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.armed = true
}

func (b *barrier) wait(who, orderID string) {
	b.mu.Lock()
	if !b.armed || b.waiting >= b.n {
		b.mu.Unlock()
		return
	}
	b.waiting++
	b.env.Log(who, "read saga %s: held at the test's barrier until %d handlers have read it", orderID, b.n)
	if b.waiting == b.n {
		b.env.Log("test", "%d handlers have read saga %s: barrier opens, they go on together", b.n, orderID)
		close(b.open)
	}
	b.mu.Unlock()
	backstop := time.After(barrierPatience)
	poll := time.NewTicker(lockPoll)
	defer poll.Stop()
	for {
		select {
		case <-b.open:
			return
		case <-backstop:
			b.env.Log("test", "barrier lets %s go alone after %v: the other handler never read saga %s meanwhile",
				who, barrierPatience, orderID)
			return
		case <-poll.C:
			if b.lockWaiter() {
				b.env.Log("test", "a handler waits on a database lock held by %s at the barrier: barrier lets it go", who)
				return
			}
		}
	}
}

// lockWaiter reports whether some session waits on a lock held by a session that has locked something in this test's
// schema: a second handler blocked by the row lock of the first.
func (b *barrier) lockWaiter() bool {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	var blocked bool
	err := b.db.QueryRow(ctx, `SELECT EXISTS (
		SELECT 1 FROM pg_stat_activity w
		CROSS JOIN LATERAL unnest(pg_blocking_pids(w.pid)) AS h(pid)
		JOIN pg_locks l ON l.pid = h.pid AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
		JOIN pg_class c ON c.oid = l.relation
		WHERE c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema()))`).Scan(&blocked)
	return err == nil && blocked
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
