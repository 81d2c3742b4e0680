// Do not edit: this test shows the failure.

package coupling

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"msglabs/shared/harness"
	"msglabs/shared/shop"
	"msglabs/shared/story"
)

var stored = story.Expect{Item: "order", From: "placed by customers", Done: "stored by Sales"}

// Sales is down (being deployed) while a customer places an order. When Sales is back, the order must be there.
func TestOrderSurvivesSalesOutage(t *testing.T) {
	env := harness.New(t)
	env.Exec(Schema)
	queue := env.Name("sales")

	// Sales is down: nothing answers at its address, and nothing consumes its queue.
	ui := &ClientUI{SalesURL: "http://" + deadAddress(t) + "/orders", Broker: env.Process("clientui").MustDial(), SalesQueue: queue}
	status := placeOrder(env, ui, shop.PlaceOrder{OrderID: "o-1", Customer: "ann", Cents: 4200})

	// Sales comes back and catches up on whatever is waiting for it.
	startSales(env, queue)
	env.Settle(func() bool { return len(env.Strings(`SELECT id FROM orders`)) == 1 }, queue)

	env.ExactlyOnce(stored, []string{"o-1"}, env.Strings(`SELECT id FROM orders`),
		"Sales was down when the customer clicked \"buy\"; ClientUI answered "+http.StatusText(status)+".")
	if status != http.StatusAccepted {
		env.Fail(story.Lost, "the order was kept, but the customer was told %d %s: answer 202 Accepted once the broker has the order",
			status, http.StatusText(status))
	}
}

// With everything up, orders flow as before.
func TestOrdersFlowWhileSalesIsUp(t *testing.T) {
	env := harness.New(t)
	env.Exec(Schema)
	queue := env.Name("sales")
	salesHTTP := httptest.NewServer(&Sales{DB: env.DB()})
	defer salesHTTP.Close()
	startSales(env, queue)

	ui := &ClientUI{SalesURL: salesHTTP.URL + "/orders", Broker: env.Process("clientui").MustDial(), SalesQueue: queue}
	want := []string{"o-1", "o-2", "o-3"}
	for _, id := range want {
		if status := placeOrder(env, ui, shop.PlaceOrder{OrderID: id, Customer: "bob", Cents: 1000}); status >= 300 {
			t.Fatalf("placing %s answered %d with Sales up", id, status)
		}
	}
	env.Settle(func() bool { return len(env.Strings(`SELECT id FROM orders`)) == len(want) }, queue)
	env.ExactlyOnce(stored, want, env.Strings(`SELECT id FROM orders`))
}

// startSales runs Sales' queue consumer as its own process and waits until it is consuming.
func startSales(env *harness.Env, queue string) {
	env.T.Helper()
	proc := env.Process("sales")
	sales := &Sales{DB: proc.Pool()}
	conn := proc.MustDial()
	proc.Go(func(ctx context.Context) error { return sales.Consume(ctx, conn, queue) })
	if !env.Eventually(func() bool { _, consumers, err := env.QueueDepth(queue); return err == nil && consumers > 0 }) {
		env.T.Fatalf("Sales did not start consuming %q: %v", env.Short(queue), proc.Err())
	}
}

// placeOrder is the customer clicking "buy": POST /orders to ClientUI. It returns the HTTP status.
func placeOrder(env *harness.Env, ui http.Handler, cmd shop.PlaceOrder) int {
	env.T.Helper()
	body, _ := json.Marshal(cmd)
	rec := httptest.NewRecorder()
	ui.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/orders", bytes.NewReader(body)))
	env.Log("customer", "POST /orders %s → %d %s", cmd.OrderID, rec.Code, http.StatusText(rec.Code))
	return rec.Code
}

// deadAddress returns a loopback address where nothing listens: Sales is down.
func deadAddress(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
