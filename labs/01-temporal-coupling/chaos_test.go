// Do not edit: this test shows the failure.

package coupling

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"msglabs/shared/chaos"
	"msglabs/shared/fault"
	"msglabs/shared/harness"
	"msglabs/shared/shop"
)

// Sales' queue consumer can run in an OS process of its own (harness.Spawn), so the chaos stage can kill it for real.
func TestMain(m *testing.M) { harness.Main(m, harness.Roles{"sales": runSales}) }

// runSales runs Sales' queue consumer in its own process until ctx is done.
func runSales(ctx context.Context, s *harness.Service) error {
	sales := &Sales{DB: s.Pool()}
	return sales.Consume(ctx, s.MustDial(), s.Arg("queue"))
}

// TestChaos places a handful of orders while Sales' web server is down, stuck or up, Sales' queue consumer starts
// early or late and may crash as it stores an order, and ClientUI's broker connection may be cut between two orders.
// Whatever happens: every customer is answered within answerLimit, every order answered 2xx is stored exactly once,
// nothing the customer was told failed is stored, and every order waits for Sales on disk, not in memory.
func TestChaos(t *testing.T) {
	chaos.Run(t, chaos.Battery{Seed: 100, Runs: 6, Scenario: evening})
}

// evening is one seeded schedule of TestChaos.
func evening(env *harness.Env, s *chaos.Schedule) {
	env.Exec(Schema)
	queue := env.Name("sales")
	orders := make([]shop.PlaceOrder, s.Between(3, 8, "orders"))
	for i := range orders {
		orders[i] = shop.PlaceOrder{OrderID: shop.OrderID(i + 1), Customer: "cleo", Cents: 500 + i}
	}
	customers := s.Between(1, 3, "customers at a time")
	salesURL := salesWebServer(env, s)
	early := s.Chance(50, "Sales' queue consumer is up before the first order")
	cutAfter := 0
	if s.Chance(30, "ClientUI's broker connection is cut between two orders") {
		cutAfter = s.Between(1, len(orders)-1, "")
		s.Note("the cut comes after order %d", cutAfter)
	}

	proc := env.Process("clientui")
	conn := proc.MustDial()
	ui := &ClientUI{SalesURL: salesURL, Broker: conn, SalesQueue: queue}
	var sales *harness.Process
	if early {
		sales = spawnSales(env, s, queue, true)
	}
	first := orders
	if cutAfter > 0 {
		first = orders[:cutAfter]
	}
	answers := placeOrders(env, ui, customers, first)
	if cutAfter > 0 {
		waitHandedOver(env, queue, len(promisedOf(answers, first)))
		proc.CutBroker()
		if !env.Eventually(conn.IsClosed) {
			env.T.Fatal("ClientUI's broker connection still looks open after the test cut it")
		}
		for id, a := range placeOrders(env, ui, customers, orders[cutAfter:]) {
			answers[id] = a
		}
	}
	if sales == nil {
		sales = spawnSales(env, s, queue, true)
	}

	promised := promisedOf(answers, orders)
	caughtUp := func() bool { return len(storedOrders(env)) >= len(promised) }
	if !env.Settle(func() bool { return caughtUp() || sales.Dead() }, queue) || sales.Dead() {
		if sales.Dead() && env.WaitConsuming(queue, 0) {
			spawnSales(env, s, queue, false)
		}
		env.Settle(caughtUp, queue)
	}
	env.ExactlyOnce(accepted.Because("ClientUI's answers were %s", codes(answers, orders)), promised, storedOrders(env))
	mustSurviveABrokerRestart(env)
}

// waitHandedOver waits until the broker has as many orders as ClientUI said yes to, in Sales' queue or already
// stored (at most Patience; it returns as soon as that holds). The cut then falls between two orders, not in the
// middle of a publish: a yes whose message the cut catches on the wire is what publisher confirms close (lab 4).
func waitHandedOver(env *harness.Env, queue string, promised int) {
	env.Eventually(func() bool {
		ready, _, err := env.QueueDepth(queue)
		return err != nil || ready+env.Unacked()+len(storedOrders(env)) >= promised // no queue: nothing to wait for
	})
}

// promisedOf lists the orders ClientUI answered with a yes (2xx), in order.
func promisedOf(answers map[string]answer, orders []shop.PlaceOrder) []string {
	var out []string
	for _, o := range orders {
		if answers[o.OrderID].code < http.StatusMultipleChoices {
			out = append(out, o.OrderID)
		}
	}
	return out
}

// salesWebServer picks how Sales' old HTTP endpoint behaves tonight, and returns its URL.
func salesWebServer(env *harness.Env, s *chaos.Schedule) string {
	switch s.Intn(3) {
	case 0:
		s.Note("Sales' web server is down")
		return "http://" + deadAddress(env.T.(*testing.T)) + "/orders"
	case 1:
		s.Note("Sales' web server is up but stuck")
		return stuckSales(env).URL + "/orders"
	default:
		s.Note("Sales' web server is up")
		srv := httptest.NewServer(&Sales{DB: env.DB()})
		env.T.Cleanup(srv.Close)
		return srv.URL + "/orders"
	}
}

// spawnSales starts Sales' queue consumer in a process of its own and waits until it consumes. With mayCrash, the
// schedule may arm a crash as it stores one of the first orders.
func spawnSales(env *harness.Env, s *chaos.Schedule, queue string, mayCrash bool) *harness.Process {
	env.T.Helper()
	proc := env.Spawn("sales", harness.Args{"queue": queue})
	if mayCrash && s.Chance(50, "%s may crash as it stores an order", proc.Name) {
		nth := s.Between(1, 3, "")
		s.CrashOn(proc, fault.AfterCommitTo("orders", nth), fault.BeforeCommitTo("orders", nth))
	}
	consuming := func() bool { _, consumers, err := env.QueueDepth(queue); return err == nil && consumers == 1 }
	if !env.Eventually(func() bool { return consuming() || proc.Dead() }) { // an early crash may come first
		env.T.Fatalf("Sales did not start consuming %q: %v", env.Short(queue), proc.Err())
	}
	return proc
}

// codes lists what ClientUI answered each order, in order.
func codes(answers map[string]answer, orders []shop.PlaceOrder) string {
	out := ""
	for i, o := range orders {
		if i > 0 {
			out += ", "
		}
		out += o.OrderID + " " + http.StatusText(answers[o.OrderID].code)
	}
	return out
}
