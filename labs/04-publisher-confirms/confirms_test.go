// Do not edit: this test shows the failure.

package confirms

import (
	"context"
	"strings"
	"testing"
	"time"

	"msglabs/shared/harness"
	"msglabs/shared/shop"
	"msglabs/shared/story"
)

var stored = story.Expect{Item: "order", From: "accepted by ClientUI", Done: "stored by Sales"}

// Sales is down and its queue is capped at two orders. A third customer clicks "buy": the broker refuses that order,
// so the customer must not be told it was accepted.
func TestRefusedOrderIsNotAccepted(t *testing.T) {
	env := harness.New(t)
	env.Exec(Schema)
	queue := SalesQueue{Name: env.Name("sales"), MaxLength: 2}
	ui := startClientUI(env, queue)

	accepted := placeOrders(env, ui, "o-1", "o-2", "o-3")
	if !hasAll(accepted, "o-1", "o-2") {
		t.Fatalf("ClientUI accepted only %v while Sales' queue still had room for o-1 and o-2", accepted)
	}
	// ClientUI shuts down for the night. Closing its channel is a round trip on it: from here on the broker has dealt
	// with all three orders, so Sales cannot make room for o-3 by starting early.
	if err := ui.Close(); err != nil {
		t.Fatalf("close ClientUI: %v", err)
	}

	startSales(env, queue)
	env.Settle(func() bool { return len(storedOrders(env)) >= len(accepted) }, queue.Name)
	env.ExactlyOnce(stored, accepted, storedOrders(env),
		"Sales' queue holds at most 2 orders (x-max-length, x-overflow: reject-publish) and Sales was down: "+
			"the broker refused o-3, yet the customer was told 202 Accepted.")
}

// The network between ClientUI and the broker dies while an order is on its way. The customer must not be told it
// was accepted.
func TestOrderLostInFlightIsNotAccepted(t *testing.T) {
	env := harness.New(t)
	env.Exec(Schema)
	queue := SalesQueue{Name: env.Name("sales"), MaxLength: 100}
	proc := env.Process("clientui")
	ui, err := NewClientUI(proc.MustDial(), queue)
	if err != nil {
		t.Fatalf("start ClientUI: %v", err)
	}
	accepted := placeOrders(env, ui, "o-1")
	if !hasAll(accepted, "o-1") {
		t.Fatal("ClientUI did not accept o-1 with the broker up and the queue empty")
	}
	if !env.Eventually(func() bool { return env.MustDepth(queue.Name) == 1 }) {
		t.Fatal("o-1 never reached Sales' queue with the broker up")
	}

	proc.BlackholeBroker()
	result := make(chan []string, 1)
	go func() { result <- placeOrders(env, ui, "o-2") }()
	if !env.Eventually(func() bool { return sent(env, proc.Name, "PlaceOrder o-2") }) {
		t.Fatal("ClientUI never sent PlaceOrder o-2")
	}
	proc.CutBroker() // the operating system gives up on the dead connection
	select {
	case more := <-result:
		accepted = append(accepted, more...)
	case <-time.After(harness.Patience):
		t.Fatalf("PlaceOrder o-2 had not returned %v after its connection was cut", harness.Patience)
	}

	startSales(env, queue)
	env.Settle(func() bool { return len(storedOrders(env)) >= len(accepted) }, queue.Name)
	env.ExactlyOnce(stored, accepted, storedOrders(env),
		"The network to the broker went silent while PlaceOrder o-2 was on its way (injected), then the connection "+
			"was cut: the broker never had o-2, yet the customer was told 202 Accepted.")
}

// startClientUI runs ClientUI as its own process.
func startClientUI(env *harness.Env, queue SalesQueue) *ClientUI {
	env.T.Helper()
	ui, err := NewClientUI(env.Process("clientui").MustDial(), queue)
	if err != nil {
		env.T.Fatalf("start ClientUI: %v", err)
	}
	return ui
}

// placeOrders is customers clicking "buy", one after the other. It returns the orders ClientUI accepted (202).
func placeOrders(env *harness.Env, ui *ClientUI, ids ...string) []string {
	var accepted []string
	for _, id := range ids {
		err := ui.PlaceOrder(context.Background(), shop.PlaceOrder{OrderID: id, Customer: "ann", Cents: 2500})
		if err != nil {
			env.Log("customer", "place order %s → error page: %v", id, err)
			continue
		}
		env.Log("customer", "place order %s → 202 Accepted", id)
		accepted = append(accepted, id)
	}
	return accepted
}

// startSales runs Sales' consumer as its own process and waits until it is consuming.
func startSales(env *harness.Env, queue SalesQueue) {
	env.T.Helper()
	proc := env.Process("sales")
	sales := &Sales{DB: proc.Pool()}
	conn := proc.MustDial()
	proc.Go(func(ctx context.Context) error { return sales.Consume(ctx, conn, queue) })
	if !env.Eventually(func() bool { _, consumers, err := env.QueueDepth(queue.Name); return err == nil && consumers > 0 }) {
		env.T.Fatalf("Sales did not start consuming %q: %v", env.Short(queue.Name), proc.Err())
	}
}

func storedOrders(env *harness.Env) []string {
	return env.Strings(`SELECT id FROM orders ORDER BY id`)
}

// sent reports whether the timeline shows actor publishing a message described by what.
func sent(env *harness.Env, actor, what string) bool {
	for _, e := range env.Timeline.Entries() {
		if e.Actor == actor && strings.HasPrefix(e.Text, "published ") && strings.Contains(e.Text, what) {
			return true
		}
	}
	return false
}

func hasAll(ids []string, want ...string) bool {
	have := map[string]bool{}
	for _, id := range ids {
		have[id] = true
	}
	for _, w := range want {
		if !have[w] {
			return false
		}
	}
	return true
}
