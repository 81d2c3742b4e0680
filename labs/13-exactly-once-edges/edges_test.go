// Do not edit: this test shows the failure.

package edges

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"msglabs/shared/fault"
	"msglabs/shared/harness"
	"msglabs/shared/shop"
	"msglabs/shared/story"
)

// holdLimit caps how long the barrier holds one request waiting for the other.
const holdLimit = 2 * time.Second

var (
	checkouts = story.Expect{Item: "checkout", From: "made by the customer", Done: "turned into an order"}
	shipped   = story.Expect{Item: "order", From: "billed", Done: "shipped"}
	charged   = story.Expect{Item: "order", From: "taken by the phone desk", Done: "charged by Billing"}
)

// The customer double-clicks "buy": two POST /orders with the same Idempotency-Key arrive together. Both are held
// just before they write, then released at once. Later the browser retries once more after a timeout. One checkout
// must make one order, and every attempt must be told the same order number.
func TestDoubleClickMakesOneOrder(t *testing.T) {
	env := harness.New(t)
	env.Exec(SalesSchema)
	gate := fault.NewBarrier(2, holdLimit, func() {
		env.Log("sales", "2 attempts of checkout k-1 are about to write: released together")
	})
	api := &Orders{DB: env.Process("sales").Pool(), BeforeWrite: func(string) { gate.Wait() }}
	req := OrderRequest{Customer: "ann", Cents: 4200}

	answers := make([]answer, 2)
	var wg sync.WaitGroup
	for i := range answers {
		wg.Add(1)
		go func() { defer wg.Done(); answers[i] = post(env, api, "k-1", req) }()
	}
	wg.Wait()
	if !gate.Full() {
		t.Fatalf("only %d of 2 requests called BeforeWrite: call o.BeforeWrite(key) in every request, just before its "+
			"transaction writes anything, so the test can hold both at that point", gate.Arrived())
	}
	answers = append(answers, post(env, api, "k-1", req)) // the browser's retry after a timeout

	env.ExactlyOnce(checkouts, []string{"k-1"}, env.Strings(`SELECT idempotency_key FROM orders`),
		"the browser sent POST /orders with Idempotency-Key k-1 twice at once (a double click); both attempts "+
			"were held just before writing and released together",
		"the customer was told: "+describe(answers))
	if n := env.Int(`SELECT count(*) FROM outbox`); n != 1 {
		env.Fail(story.Duplicate, "OrderPlaced was put in the outbox %d times for the one order of checkout k-1", n)
	}
	orderID := env.Strings(`SELECT id FROM orders`)[0]
	for i, a := range answers {
		if a.Status != http.StatusCreated {
			env.Fail(story.Lost, "attempt %d of checkout k-1 was answered %d %s although order %s exists: every attempt "+
				"must get the stored answer (201 Created, order %s)", i+1, a.Status, http.StatusText(a.Status), orderID, orderID)
		}
		if a.OrderID != orderID {
			env.Fail(story.Duplicate, "the customer was told two order numbers for checkout k-1 (%s), but only order %s "+
				"exists: every attempt must get the stored answer", describe(answers), orderID)
		}
	}
}

// Different checkouts are different orders, even from the same customer with the same amount.
func TestEachCheckoutIsOneOrder(t *testing.T) {
	env := harness.New(t)
	env.Exec(SalesSchema)
	api := &Orders{DB: env.Process("sales").Pool()}
	req := OrderRequest{Customer: "bob", Cents: 1000}
	first := post(env, api, "k-1", req)
	second := post(env, api, "k-2", req)
	again := post(env, api, "k-1", req)

	env.ExactlyOnce(checkouts, []string{"k-1", "k-2"}, env.Strings(`SELECT idempotency_key FROM orders`))
	if first.OrderID == second.OrderID || again.OrderID != first.OrderID {
		t.Fatalf("answers: k-1 → %s, k-2 → %s, k-1 again → %s: want two different orders, and the retry of k-1 told "+
			"the first one", first.OrderID, second.OrderID, again.OrderID)
	}
}

// Billing publishes OrderBilled, then dies before acking OrderPlaced. The broker redelivers; Billing (idempotent)
// does not charge again but publishes OrderBilled again, as it must. Shipping must still send one parcel.
func TestBilledAgainIsShippedOnce(t *testing.T) {
	env := harness.New(t)
	env.Exec(BillingSchema)
	env.Exec(ShippingSchema)
	events, billingQ, shippingQ := env.Name("events"), env.Name("billing"), env.Name("shipping")
	declare(env, events, billingQ, "OrderPlaced")
	declare(env, events, shippingQ, "OrderBilled")
	startShipping(env, shippingQ)

	billing := env.Process("billing")
	billing.Points.Arm(fault.AfterPublish)
	startBilling(env, billing, events, billingQ)
	placed := env.Publisher("sales").Send(events, "OrderPlaced", shop.OrderPlaced{OrderID: "o-1", Customer: "ann", Cents: 4200})
	waitCrash(env, billing, "Billing", fault.AfterPublish)
	if !env.Eventually(func() bool { return env.MustDepth(billingQ) == 1 }) {
		t.Fatalf("the broker did not requeue %s after Billing crashed", placed)
	}

	startBilling(env, env.Process("billing"), events, billingQ)
	env.Settle(func() bool {
		return len(env.Strings(`SELECT order_id FROM parcels`)) > 1 || idle(env, billingQ, shippingQ)
	}, billingQ, shippingQ)

	env.ExactlyOnce(charged, []string{"o-1"}, env.Strings(`SELECT order_id FROM charges`))
	env.ExactlyOnce(shipped, []string{"o-1"}, env.Strings(`SELECT order_id FROM parcels`),
		fmt.Sprintf("Billing crashed at %q (after publishing OrderBilled, before acking %s) and handled the redelivered "+
			"%s again", fault.AfterPublish, placed, placed),
		"Shipping's inbox saw these OrderBilled ids: "+strings.Join(env.Strings(`SELECT message_id FROM shipping_inbox ORDER BY message_id`), ", "))
}

// The bridge dies at its first step after taking a row from the phone desk's table: between deleting the row and
// the broker's confirm, or between the confirm and deleting the row, whichever its code does first. It is restarted.
// Every phone order must be charged exactly once.
func TestBridgeCrashLosesNoOrder(t *testing.T) {
	env := harness.New(t)
	env.Exec(BillingSchema)
	env.Exec(LegacySchema)
	events, billingQ := env.Name("events"), env.Name("billing")
	declare(env, events, billingQ, "OrderPlaced")
	deskWrites(env, "L-1", "o-1", "L-2", "o-2")
	startBilling(env, env.Process("billing"), events, billingQ)

	bridge := env.Process("bridge")
	bridge.Points.Arm(fault.AfterCommit)
	bridge.Points.Arm(fault.AfterPublish)
	startBridge(env, bridge, events)
	waitCrash(env, bridge, "the bridge", fault.AfterCommit+"\" or \""+fault.AfterPublish)
	startBridge(env, env.Process("bridge"), events)
	settleBridge(env, billingQ)

	env.ExactlyOnce(charged, []string{"o-1", "o-2"}, env.Strings(`SELECT order_id FROM charges`),
		"the bridge crashed after taking o-1 from the phone desk's table, and was restarted",
		fmt.Sprintf("rows left in the table: %d", env.Int(`SELECT count(*) FROM phone_orders`)))
}

// The phone desk timed out on its INSERT and wrote order o-1 again, with the same msg_id. The bridge forwards what
// it finds; Billing's inbox must be able to tell that the second copy is the same message.
func TestBridgeKeepsTheDesksIDs(t *testing.T) {
	env := harness.New(t)
	env.Exec(BillingSchema)
	env.Exec(LegacySchema)
	events, billingQ := env.Name("events"), env.Name("billing")
	declare(env, events, billingQ, "OrderPlaced")
	deskWrites(env, "L-1", "o-1", "L-1", "o-1", "L-2", "o-2")
	startBilling(env, env.Process("billing"), events, billingQ)
	startBridge(env, env.Process("bridge"), events)
	settleBridge(env, billingQ)

	env.ExactlyOnce(charged, []string{"o-1", "o-2"}, env.Strings(`SELECT order_id FROM charges`),
		"the phone desk wrote o-1 twice with msg_id L-1 (its own retry); Billing's inbox saw the ids: "+
			strings.Join(env.Strings(`SELECT message_id FROM billing_inbox ORDER BY message_id`), ", "))
}

// answer is what the customer's browser got back.
type answer struct {
	Status  int
	OrderID string
}

// post is the customer's browser sending POST /orders for checkout key.
func post(env *harness.Env, api http.Handler, key string, req OrderRequest) answer {
	env.T.Helper()
	body, _ := json.Marshal(req)
	r := httptest.NewRequest(http.MethodPost, "/orders", bytes.NewReader(body))
	r.Header.Set(IdempotencyHeader, key)
	rec := httptest.NewRecorder()
	api.ServeHTTP(rec, r)
	var resp OrderResponse
	_ = json.Unmarshal(rec.Body.Bytes(), &resp)
	a := answer{Status: rec.Code, OrderID: resp.OrderID}
	env.Log("customer", "POST /orders (Idempotency-Key %s) → %d %s, order %q", key, a.Status, http.StatusText(a.Status), a.OrderID)
	return a
}

func describe(answers []answer) string {
	parts := make([]string, len(answers))
	for i, a := range answers {
		parts[i] = fmt.Sprintf("%d with order %q", a.Status, a.OrderID)
	}
	return strings.Join(parts, "; ")
}

// declare binds a durable queue to the events exchange for one message type, as the test's setup.
func declare(env *harness.Env, exchange, queue, messageType string) {
	env.T.Helper()
	ch, err := env.Process("setup").MustDial().Channel()
	if err != nil {
		env.T.Fatalf("open channel: %v", err)
	}
	defer ch.Close()
	if err := DeclareSubscriber(ch, exchange, queue, messageType); err != nil {
		env.T.Fatal(err)
	}
}

// deskWrites is the phone desk inserting rows: pairs of msg_id and order id.
func deskWrites(env *harness.Env, pairs ...string) {
	env.T.Helper()
	for i := 0; i < len(pairs); i += 2 {
		env.Exec(`INSERT INTO phone_orders (msg_id, order_id, customer, cents) VALUES ($1, $2, 'cal', 2500)`, pairs[i], pairs[i+1])
		env.Log("desk", "INSERT phone order %s (msg_id %s)", pairs[i+1], pairs[i])
	}
}

func startBilling(env *harness.Env, proc *harness.Process, events, queue string) {
	env.T.Helper()
	b := &Billing{DB: proc.Pool(), Events: events, Points: proc.Points}
	conn := proc.MustDial()
	proc.Go(func(ctx context.Context) error { return b.Consume(ctx, conn, queue) })
	waitConsumer(env, proc, queue)
}

func startShipping(env *harness.Env, queue string) {
	env.T.Helper()
	proc := env.Process("shipping")
	s := &Shipping{DB: proc.Pool()}
	conn := proc.MustDial()
	proc.Go(func(ctx context.Context) error { return s.Consume(ctx, conn, queue) })
	waitConsumer(env, proc, queue)
}

func startBridge(env *harness.Env, proc *harness.Process, events string) {
	env.T.Helper()
	b := &Bridge{DB: proc.Pool(), Broker: proc.MustDial(), Events: events, Points: proc.Points}
	proc.Go(b.Run)
}

func waitConsumer(env *harness.Env, proc *harness.Process, queue string) {
	env.T.Helper()
	if !env.Eventually(func() bool { _, c, err := env.QueueDepth(queue); return err == nil && c > 0 }) {
		env.T.Fatalf("%s did not start consuming %q: %v", proc.Name, env.Short(queue), proc.Err())
	}
}

// waitCrash waits for an armed crash point to fire.
func waitCrash(env *harness.Env, proc *harness.Process, who, point string) {
	env.T.Helper()
	select {
	case <-proc.Points.Crashed():
	case <-time.After(harness.Patience):
		env.T.Fatalf("%s never reached the crash point %q: keep the Points.At calls where they are (errors: %v)\n%s",
			who, point, proc.Err(), env.Timeline)
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

// settleBridge waits until the bridge has taken every row of the phone desk's table (at most harness.Patience: a
// bridge that leaves rows behind is judged by what Billing got), then until Billing has handled everything it was
// sent and nothing has moved for harness.Quiet. Waiting for the table first matters: a restarted bridge polls the
// database, which the wire does not show, and may be slower to start than a quiet period.
func settleBridge(env *harness.Env, billingQ string) {
	env.T.Helper()
	env.Eventually(func() bool { return env.Int(`SELECT count(*) FROM phone_orders`) == 0 })
	env.Settle(func() bool { return false }, billingQ)
}
