// Do not edit: this test shows the failure.

package saga

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	amqp "github.com/rabbitmq/amqp091-go"

	"msglabs/shared/harness"
	"msglabs/shared/shop"
	"msglabs/shared/story"
)

// paymentTimeout is how long an order may wait for its payment in these tests.
const paymentTimeout = 400 * time.Millisecond

// barrierPatience is a backstop: the longest the barrier holds one handler while it waits for the other. A policy that
// locks the saga's row makes the second handler wait on that lock instead of at the barrier; the barrier sees that
// in PostgreSQL and lets the first one go at once (see barrier.wait). Only a wait the barrier cannot see pays this.
const barrierPatience = 3 * time.Second

// lockPoll is how often the barrier looks for a handler that waits on a database lock.
const lockPoll = 5 * time.Millisecond

const orderCents = 4200

var (
	shipped  = story.Expect{Item: "order", From: "placed and billed", Done: "shipped"}
	released = story.Expect{Item: "order", From: "left unpaid", Done: "released from stock"}
	refunded = story.Expect{Item: "order", From: "billed after it was cancelled", Done: "refunded"}
)

// Events do not arrive in the order they were sent: o-1's payment comes before its OrderPlaced. o-2 comes in order.
// Both must ship, once.
func TestBilledBeforePlacedStillShips(t *testing.T) {
	env := harness.New(t)
	w := newWorld(env)
	w.startPolicy(nil)

	w.publish(shop.OrderBilled{OrderID: "o-1", Cents: orderCents})
	w.publish(shop.OrderPlaced{OrderID: "o-1", Customer: "ann", Cents: orderCents})
	w.publish(shop.OrderPlaced{OrderID: "o-2", Customer: "bob", Cents: orderCents})
	w.publish(shop.OrderBilled{OrderID: "o-2", Cents: orderCents})

	want := []string{"o-1", "o-2"}
	env.Settle(func() bool { return len(w.shipping.got()) >= len(want) && w.idle() }, w.top.Policy, w.top.Shipping)
	if !contains(w.shipping.got(), "o-1") {
		env.FailWith(story.Stalled, []string{"saga of o-1 in the database: " + w.sagaRow("o-1")},
			"order o-1 was placed and paid but never shipped: its OrderBilled arrived before its OrderPlaced")
	}
	env.ExactlyOnce(shipped, want, w.shipping.got())
}

// Two instances of the policy run side by side. o-1's OrderPlaced and OrderBilled reach them at the same moment and
// are held at a barrier right after each read the saga, then let go together. The order must ship, once.
func TestSimultaneousEventsShipOnce(t *testing.T) {
	env := harness.New(t)
	w := newWorld(env)
	b := newBarrier(env, 2)
	w.startPolicy(b.wait)
	w.startPolicy(b.wait)

	w.publish(shop.OrderPlaced{OrderID: "o-1", Customer: "ann", Cents: orderCents})
	w.publish(shop.OrderBilled{OrderID: "o-1", Cents: orderCents})

	env.Settle(func() bool { return len(w.shipping.got()) >= 1 && w.idle() }, w.top.Policy, w.top.Shipping)
	if len(w.shipping.got()) == 0 {
		env.FailWith(story.Stalled, []string{
			"saga of o-1 in the database: " + w.sagaRow("o-1"),
			"Each instance read the saga before the other saved it and decided on what it had read: one event's effect was lost.",
		}, "order o-1 was placed and paid but never shipped: its OrderPlaced and OrderBilled were handled at the same moment by two instances of the policy")
	}
	env.ExactlyOnce(shipped, []string{"o-1"}, w.shipping.got())
}

// The policy is restarted (a deploy) after o-1 was placed and before its payment timeout went off. No payment comes.
// The order must still be cancelled and its stock released, by the new instance.
//
// The restart happens the moment the broker hands the policy its next message, o-2's OrderPlaced: with prefetch 1 that
// proves the policy has settled o-1's. Until the restart, the first instance is held at every read of a saga after
// its first one, so neither o-2 nor o-1's own timer (should it go off first on a slow machine) can do anything in it.
func TestPaymentTimeoutSurvivesRestart(t *testing.T) {
	env := harness.New(t)
	w := newWorld(env)
	hold := newRestartHold(env)
	first := w.startPolicy(hold.afterLoad)

	w.publish(shop.OrderPlaced{OrderID: "o-1", Customer: "ann", Cents: orderCents})
	next := w.publish(shop.OrderPlaced{OrderID: "o-2", Customer: "bob", Cents: orderCents})
	if !env.Eventually(func() bool { return env.Deliveries(next) > 0 }) {
		env.Fail(story.Stalled, "the policy never settled o-1's OrderPlaced: with prefetch 1 the broker did not hand it o-2's")
	}
	env.Log("test", "the policy was handed o-2's OrderPlaced, so it has settled o-1's: the test redeploys it now")
	first.Kill()
	hold.release()
	if !env.Eventually(func() bool { _, n, err := env.QueueDepth(w.top.Policy); return err == nil && n == 0 }) {
		env.T.Fatalf("the broker still counts the killed policy as a consumer of %q", env.Short(w.top.Policy))
	}
	w.startPolicy(nil)

	want := []string{"o-1", "o-2"}
	env.Settle(func() bool { return len(w.warehouse.got()) >= len(want) && w.idle() },
		w.top.Policy, w.top.Timeouts, w.top.Warehouse)
	if !contains(w.warehouse.got(), "o-1") {
		env.FailWith(story.Stalled, []string{"saga of o-1 in the database: " + w.sagaRow("o-1")},
			"order o-1 waits for its payment forever: the policy was restarted before the %v payment timeout went off, the timeout died with it, and the stock stays reserved",
			paymentTimeout)
	}
	env.ExactlyOnce(released, want, w.warehouse.got())
	env.ExactlyOnce(shipped, nil, w.shipping.got())
}

// o-1's payment does not come in time: the order is cancelled and its stock released. Then the money arrives after
// all. The customer must get it back, and the order must not ship.
func TestLatePaymentIsRefunded(t *testing.T) {
	env := harness.New(t)
	w := newWorld(env)
	w.startPolicy(nil)

	w.publish(shop.OrderPlaced{OrderID: "o-1", Customer: "ann", Cents: orderCents})
	if !env.EventuallyWithin(paymentTimeout+harness.Patience, func() bool { return len(w.warehouse.got()) >= 1 }) {
		env.Fail(story.Stalled, "order o-1 was never cancelled although its payment did not come within %v", paymentTimeout)
	}
	env.Log("test", "o-1 was cancelled; now its payment arrives, late")
	w.publish(shop.OrderBilled{OrderID: "o-1", Cents: orderCents})

	env.Settle(func() bool { return len(w.billing.got()) >= 1 && w.idle() }, w.top.Policy, w.top.Billing)
	env.ExactlyOnce(refunded, []string{"o-1"}, w.billing.got(),
		fmt.Sprintf("o-1 was cancelled after %v without payment; its OrderBilled (%d cents) came after that.", paymentTimeout, orderCents))
	env.ExactlyOnce(shipped, nil, w.shipping.got())
	env.ExactlyOnce(released, []string{"o-1"}, w.warehouse.got())
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

// startPolicy runs one instance of the policy as its own process and waits until it consumes.
func (w *world) startPolicy(afterLoad func(orderID string)) *harness.Process {
	w.env.T.Helper()
	proc := w.env.Process("policy")
	policy := &Policy{DB: proc.Pool(), Topology: w.top, PaymentTimeout: paymentTimeout, AfterLoad: afterLoad}
	conn := proc.MustDial()
	_, before, _ := w.env.QueueDepth(w.top.Policy)
	proc.Go(func(ctx context.Context) error { return policy.Run(ctx, conn) })
	if !w.env.Eventually(func() bool { _, n, err := w.env.QueueDepth(w.top.Policy); return err == nil && n > before }) {
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

// idle reports whether every delivery has been settled and no command waits downstream.
func (w *world) idle() bool {
	for _, q := range []string{w.top.Policy, w.top.Shipping, w.top.Warehouse, w.top.Billing} {
		if n, _, err := w.env.QueueDepth(q); err != nil || n > 0 {
			return false
		}
	}
	return w.env.Unacked() == 0
}

// sagaRow shows an order's saga as the database has it, for failure details.
func (w *world) sagaRow(orderID string) string {
	rows := w.env.Strings(`SELECT row_to_json(s)::text FROM shipping_sagas s WHERE order_id = $1`, orderID)
	if len(rows) == 0 {
		return "(no row)"
	}
	return rows[0]
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

// restartHold is the AfterLoad of the first policy instance in TestPaymentTimeoutSurvivesRestart. Its first read of a
// saga (o-1's OrderPlaced) goes through; every later read waits until release, which the test calls once it has
// killed the instance, so whatever caused that read dies with the process before it can act.
type restartHold struct {
	env    *harness.Env
	mu     sync.Mutex
	reads  int
	killed chan struct{}
}

func newRestartHold(env *harness.Env) *restartHold {
	return &restartHold{env: env, killed: make(chan struct{})}
}

func (h *restartHold) afterLoad(orderID string) {
	h.mu.Lock()
	h.reads++
	first := h.reads == 1
	h.mu.Unlock()
	if first {
		return
	}
	select {
	case <-h.killed:
		return
	default:
	}
	if orderID == "o-1" {
		h.env.Log("test", "the policy read o-1's saga again before its restart (its payment timer went off first): held until the restart")
	}
	select {
	case <-h.killed:
	case <-time.After(harness.Patience):
	}
}

// release lets the held reads go on; call it once, after the instance was killed.
func (h *restartHold) release() { close(h.killed) }

// barrier holds the first n callers until all n have arrived, then lets them go together; later callers pass at once.
// When the other handler cannot arrive because it waits on a database lock held by the one at the barrier (a policy
// that locks the saga's row), the held handler is let go at once; barrierPatience is the backstop for any other wait.
type barrier struct {
	env     *harness.Env
	db      *pgxpool.Pool
	mu      sync.Mutex
	waiting int
	n       int
	open    chan struct{}
}

func newBarrier(env *harness.Env, n int) *barrier {
	return &barrier{env: env, db: env.DB(), n: n, open: make(chan struct{})}
}

func (b *barrier) wait(orderID string) {
	b.mu.Lock()
	if b.waiting >= b.n {
		b.mu.Unlock()
		return
	}
	b.waiting++
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
			b.env.Log("test", "barrier lets a handler of saga %s go alone after %v", orderID, barrierPatience)
			return
		case <-poll.C:
			if b.lockWaiter() {
				b.env.Log("test", "a handler waits on a database lock held by the one at the barrier: barrier lets it go")
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
