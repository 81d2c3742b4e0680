// Do not edit: this test shows the failure.

package confirms

import (
	"context"
	"testing"

	"msglabs/shared/chaos"
	"msglabs/shared/fault"
	"msglabs/shared/harness"
	"msglabs/shared/shop"
	"msglabs/shared/story"
)

// TestChaos runs seeded evenings of ClientUI: a handful of orders into Sales' capped queue while Sales is down, and
// before each order maybe a fault on ClientUI's link to the broker: slow confirms, or a network that goes silent (cut
// after the order), each with a customer who closes the tab before the answer comes, or a plain cut. Whatever happens: every customer is answered
// within customerPatience, every order answered 202 Accepted is stored by Sales, every order is published persistent,
// and once the network is healthy and Sales has made room, the next order is accepted.
func TestChaos(t *testing.T) {
	chaos.Run(t, chaos.Battery{Seed: 400, Runs: 8, Scenario: evening})
}

// The faults TestChaos may put on ClientUI's link just before an order.
const (
	healthy = iota
	slowConfirms
	silent
	cut
	faults
)

// evening is one seeded schedule of TestChaos.
func evening(env *harness.Env, s *chaos.Schedule) {
	env.Exec(Schema)
	queue := SalesQueue{Name: env.Name("sales"), MaxLength: s.Between(2, 5, "places in Sales' queue")}
	n := s.Between(3, 7, "orders")
	plan := make([]int, n)
	for i := range plan {
		plan[i] = s.Intn(faults)
		if plan[i] == slowConfirms && i > 0 && plan[i-1] != healthy {
			plan[i] = healthy // slow confirms hit a connection that is up: a slowed reconnect is another story
		}
		if plan[i] != healthy {
			s.Note("before o-%d: %s", i+1, faultWords[plan[i]])
		}
	}
	proc := env.Process("clientui")
	conns := &connections{}
	ui := startClientUIWith(env, conns.dialer(proc), queue)

	var accepted []string
	for i, f := range plan {
		id := shop.OrderID(i + 1)
		accepted = append(accepted, placeUnder(env, proc, conns, ui, f, id)...)
	}

	startSales(env, queue)
	env.Settle(func() bool { return hasAll(storedOrders(env), accepted...) }, queue.Name)
	env.ExactlyOnce(stored.Because("ClientUI's link to the broker had faults before some orders (see the schedule)"),
		accepted, only(accepted, storedOrders(env)), refusedYetAccepted(env, accepted)...)
	mustBeOnDisk(env)

	if !env.WaitDrained(queue.Name) {
		env.Fail(story.Stalled, "Sales never emptied its queue")
	}
	if last := placeOrders(env, ui, context.Background(), "o-last"); len(last) == 0 {
		env.Fail(story.Stalled, "ClientUI turned o-last away with an error page although the network was healthy and "+
			"Sales' queue empty: it never recovered from the evening's faults")
	}
}

var faultWords = map[int]string{
	slowConfirms: "the broker's confirms come late and the customer closes the tab first",
	silent:       "the network goes silent and the customer closes the tab first (cut after the order)",
	cut:          "ClientUI's connection is cut",
}

// placeUnder places one order with fault f on ClientUI's link, and returns it if ClientUI accepted it.
func placeUnder(env *harness.Env, proc *harness.Process, conns *connections, ui *ClientUI, f int, id string) []string {
	env.T.Helper()
	tab, closeTab := context.WithTimeout(context.Background(), impatient) // the customer closes the tab
	defer closeTab()
	switch f {
	case slowConfirms:
		proc.Slow(fault.Down, confirmLag)
		defer proc.Slow(fault.Down, 0)
		return placeOrders(env, ui, tab, id)
	case silent:
		proc.BlackholeBroker()
		defer cutAll(env, proc, conns) // the operating system gives up on the silent connection
		return placeOrders(env, ui, tab, id)
	case cut:
		cutAll(env, proc, conns)
	}
	return placeOrders(env, ui, context.Background(), id)
}

// cutAll cuts ClientUI's broker connections and waits until ClientUI's library has noticed.
func cutAll(env *harness.Env, proc *harness.Process, conns *connections) {
	env.T.Helper()
	proc.CutBroker()
	if !env.Eventually(conns.allClosed) {
		env.T.Fatal("ClientUI's broker connection still looks open after the test cut it")
	}
}
