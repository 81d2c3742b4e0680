// Do not edit: this test shows the failure.

package confirms

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"msglabs/shared/fault"
	"msglabs/shared/harness"
	"msglabs/shared/leftover"
	"msglabs/shared/shop"
	"msglabs/shared/story"
)

var stored = story.Expect{Item: "order", From: "accepted by ClientUI", Done: "stored by Sales"}

// customerPatience is how long a customer waits for ClientUI's answer before giving up on the shop. A healthy broker
// confirms in milliseconds; ClientUI may give up on it well before this.
const customerPatience = 2 * time.Second

// Slow confirms in TestRefusedOrderIsNotAccepted: the broker's answers reach ClientUI confirmLag late, and one customer
// closes the browser tab after impatient.
const (
	confirmLag = 400 * time.Millisecond
	impatient  = 100 * time.Millisecond
)

// The network between ClientUI and the broker goes silent while an order is on its way: what ClientUI sends vanishes,
// and nobody is told (no reset, no error; the operating system gives up only minutes later). The customer must not
// be told the order was accepted, must not wait for ever, and the next customer must be served: new connections to
// the broker work fine.
func TestOrderLostInFlightIsNotAccepted(t *testing.T) {
	env := harness.New(t)
	env.Exec(Schema)
	queue := SalesQueue{Name: env.Name("sales"), MaxLength: 100}
	proc := env.Process("clientui")
	ui := startClientUI(env, proc, queue)

	accepted := placeOrders(env, ui, context.Background(), "o-1")
	if !hasAll(accepted, "o-1") {
		t.Fatal("ClientUI did not accept o-1 with the broker up and the queue empty")
	}
	if !env.Eventually(func() bool { return env.MustDepth(queue.Name) == 1 }) {
		t.Fatal("o-1 never reached Sales' queue with the broker up")
	}

	proc.BlackholeBroker()
	t.Cleanup(func() { proc.CutBroker() }) // the operating system gives up on the silent connection in the end
	lost := placeOrders(env, ui, context.Background(), "o-2")
	next := placeOrders(env, ui, context.Background(), "o-3")
	if !hasAll(lost, "o-2") && !hasAll(next, "o-3") {
		env.Fail(story.Stalled, "ClientUI turned o-3 away with an error page although the broker was reachable: it "+
			"still published on the connection that had gone silent under o-2, and will until the operating system "+
			"gives up on it")
	}
	accepted = append(append(accepted, lost...), next...)
	proc.CutBroker()

	startSales(env, queue)
	env.Settle(func() bool { return hasAll(storedOrders(env), accepted...) }, queue.Name)
	env.ExactlyOnce(stored.Because("the network to the broker went silent under PlaceOrder o-2 (injected): nothing "+
		"ClientUI sent on that connection from then on reached the broker"), accepted, only(accepted, storedOrders(env)))
	mustBeOnDisk(env)
}

// ClientUI's connection to the broker is cut (a network blip), and the broker is reachable again at once. The next
// customers' orders must go through, one after the other on the new connection: a ClientUI that keeps its dead
// channel turns every customer away until it is restarted.
func TestOrdersFlowAfterTheConnectionIsCut(t *testing.T) {
	env := harness.New(t)
	env.Exec(Schema)
	queue := SalesQueue{Name: env.Name("sales"), MaxLength: 100}
	proc := env.Process("clientui")
	conns := &connections{}
	ui := startClientUIWith(env, conns.dialer(proc), queue)
	startSales(env, queue)

	accepted := placeOrders(env, ui, context.Background(), "o-1")
	if !env.Eventually(func() bool { return len(storedOrders(env)) == 1 }) {
		env.Fail(story.Lost, "order o-1 was never stored by Sales, with the broker and Sales up (ClientUI accepted %v)", accepted)
	}
	proc.CutBroker()
	if !env.Eventually(conns.allClosed) {
		t.Fatal("ClientUI's broker connection still looks open after the test cut it")
	}
	accepted = append(accepted, placeOrders(env, ui, context.Background(), "o-2", "o-3", "o-4")...)
	if !hasAll(accepted, "o-1", "o-2", "o-3", "o-4") {
		env.Fail(story.Stalled, "ClientUI turned customers away after its connection was cut, with the broker reachable "+
			"again: it accepted only %v of o-1, o-2, o-3, o-4", accepted)
	}
	env.Settle(func() bool { return len(storedOrders(env)) == len(accepted) }, queue.Name)
	env.ExactlyOnce(stored.Because("ClientUI's connection was cut after o-1"), accepted, storedOrders(env))
}

// Sales is down and its queue is capped at two orders (x-max-length, x-overflow: reject-publish). Tonight the broker is
// slow to answer, and the customer of o-2 closes the browser tab before it does; o-2 reaches the queue all the same.
// The broker is quick again when a third customer clicks "buy": it refuses o-3, the queue being full, so that
// customer must not be told it was accepted.
func TestRefusedOrderIsNotAccepted(t *testing.T) {
	env := harness.New(t)
	env.Exec(Schema)
	queue := SalesQueue{Name: env.Name("sales"), MaxLength: 2}
	proc := env.Process("clientui")
	ui := startClientUI(env, proc, queue)

	accepted := placeOrders(env, ui, context.Background(), "o-1")
	if !hasAll(accepted, "o-1") {
		t.Fatalf("ClientUI did not accept o-1 while Sales' queue had room for it")
	}
	proc.Slow(fault.Down, confirmLag)
	tab, closeTab := context.WithTimeout(context.Background(), impatient)
	accepted = append(accepted, placeOrders(env, ui, tab, "o-2")...)
	closeTab()
	proc.Slow(fault.Down, 0)
	if !env.Eventually(func() bool { return env.MustDepth(queue.Name) == 2 }) {
		t.Fatal("o-2 never reached Sales' queue")
	}
	accepted = append(accepted, placeOrders(env, ui, context.Background(), "o-3")...)
	// ClientUI shuts down for the night. Closing its channel is a round trip on it: from here on the broker has dealt
	// with all three orders, so Sales cannot make room for o-3 by starting early.
	if err := ui.Close(); err != nil {
		t.Fatalf("close ClientUI: %v", err)
	}

	startSales(env, queue)
	env.Settle(func() bool { return hasAll(storedOrders(env), accepted...) }, queue.Name)
	env.ExactlyOnce(stored.Because("Sales' queue holds at most 2 orders and Sales was down: the broker refused o-3"),
		accepted, only(accepted, storedOrders(env)), refusedYetAccepted(env, accepted)...)
}

// Operations declare Sales' queue again with a new limit: they delete it first, and a customer clicks "buy" before
// it is back. The default exchange has no queue to route o-1 to, so the broker drops it, and acks it all the same: a
// confirm says the broker is done with a message, not that a queue has it. That customer must not be told it was
// accepted.
func TestUnroutableOrderIsNotAccepted(t *testing.T) {
	env := harness.New(t)
	env.Exec(Schema)
	queue := SalesQueue{Name: env.Name("sales"), MaxLength: 100}
	ui := startClientUI(env, env.Process("clientui"), queue) // it declares Sales' queue as it connects
	deleteQueue(env, queue.Name)
	accepted := placeOrders(env, ui, context.Background(), "o-1")

	startSales(env, queue) // Sales declares its queue again
	env.Settle(func() bool { return hasAll(storedOrders(env), accepted...) }, queue.Name)
	env.ExactlyOnce(stored.Because("operations had deleted Sales' queue to declare it again, and o-1 came in before it "+
		"was back: the broker had no queue for o-1, dropped it, and acked it all the same"),
		accepted, only(accepted, storedOrders(env)), refusedYetAccepted(env, accepted)...)
}

// deleteQueue is operations deleting Sales' queue, to declare it again with a new limit.
func deleteQueue(env *harness.Env, name string) {
	env.T.Helper()
	ctx, cancel := context.WithTimeout(env.Context(), harness.Patience)
	defer cancel()
	if err := leftover.DeleteBrokerNames(ctx, env.AMQPURL(), name); err != nil {
		env.T.Fatalf("delete Sales' queue: %v", err)
	}
	env.Log("operations", "deleted queue %q, to declare it again with a new limit", env.Short(name))
}

// mustBeOnDisk fails the test unless every PlaceOrder ClientUI published was persistent: the broker's confirm of a
// transient message only says it reached the broker's memory, and a broker restart before Sales is back loses it.
func mustBeOnDisk(env *harness.Env) {
	env.T.Helper()
	for _, e := range env.Timeline.Entries() {
		if e.Kind == story.Publish && strings.HasPrefix(e.Actor, "clientui") && strings.Contains(e.Text, "(transient") {
			env.Fail(story.Lost, "an order the broker confirmed was only in its memory: ClientUI published it as a transient "+
				"message, so a broker restart before Sales comes back loses it (%s)", e.Text)
		}
	}
}

// refusedYetAccepted lists, for a verdict's details, the accepted orders the broker refused (a negative confirm) or
// returned (a mandatory message it had no queue for).
func refusedYetAccepted(env *harness.Env, accepted []string) []string {
	var out []string
	for _, e := range env.Timeline.Entries() {
		if !strings.HasPrefix(e.Actor, "clientui") {
			continue
		}
		for _, id := range accepted {
			switch {
			case e.Message != "place-"+id:
			case e.Kind == story.Refuse:
				out = append(out, fmt.Sprintf("the broker REFUSED %s (a negative confirm), and ClientUI answered 202 Accepted all the same", id))
			case e.Kind == story.Return:
				out = append(out, fmt.Sprintf("the broker RETURNED %s before acking it (no queue for it), and ClientUI answered "+
					"202 Accepted all the same", id))
			}
		}
	}
	return out
}

// startClientUI runs ClientUI as proc, dialling the broker through proc's proxy.
func startClientUI(env *harness.Env, proc *harness.Process, queue SalesQueue) *ClientUI {
	env.T.Helper()
	return startClientUIWith(env, proc.Dial, queue)
}

func startClientUIWith(env *harness.Env, dial Dialer, queue SalesQueue) *ClientUI {
	env.T.Helper()
	ui, err := NewClientUI(dial, queue)
	if err != nil {
		env.T.Fatalf("start ClientUI: %v", err)
	}
	return ui
}

// placeOrders is customers clicking "buy", one after the other, each with the request context ctx. It returns the
// orders ClientUI accepted (202). A customer waits at most customerPatience: an answer that takes longer fails the
// test, STALLED.
func placeOrders(env *harness.Env, ui *ClientUI, ctx context.Context, ids ...string) []string {
	env.T.Helper()
	var accepted []string
	for _, id := range ids {
		answer := make(chan error, 1)
		crashed := make(chan string, 1)
		go func() {
			defer func() {
				if v := recover(); v != nil {
					crashed <- panicStory(v, debug.Stack())
				}
			}()
			answer <- ui.PlaceOrder(ctx, shop.PlaceOrder{OrderID: id, Customer: "ann", Cents: 2500})
		}()
		select {
		case why := <-crashed:
			env.Log("customer", "place order %s → a broken page: ClientUI panicked", id)
			env.Fail(story.Stalled, "ClientUI panicked placing %s, so the customer got a broken page and no answer: %s", id, why)
		case err := <-answer:
			if err != nil {
				env.Log("customer", "place order %s → error page: %v", id, err)
				continue
			}
			env.Log("customer", "place order %s → 202 Accepted", id)
			accepted = append(accepted, id)
		case <-time.After(customerPatience):
			env.Log("customer", "place order %s → no answer after %s: the customer gives up", id, customerPatience)
			env.Fail(story.Stalled, "the customer placing %s had no answer after %s: PlaceOrder is stuck%s%s", id,
				customerPatience, siteIn(placeOrderStack()), whyNoAnswer(env))
		}
	}
	return accepted
}

// panicStory says what a panic in PlaceOrder was and where ClientUI's code raised it, and why, when that is known:
// a deferred confirmation is nil when the channel was not put in confirm mode.
func panicStory(v any, stack []byte) string {
	out := fmt.Sprint(v)
	if site := siteIn(string(stack)); site != "" {
		out += " (" + site[1:] + ")"
	}
	if strings.Contains(out, "nil pointer") && strings.Contains(string(stack), "(*DeferredConfirmation)") {
		out += "; the deferred confirmation was nil: PublishWithDeferredConfirmWithContext returns one only on a " +
			"channel in confirm mode (ch.Confirm)"
	}
	return out
}

// siteIn finds the innermost line of clientui.go in a goroutine's stack: " at clientui.go:42", or "".
func siteIn(stack string) string {
	for _, line := range strings.Split(stack, "\n") {
		if _, site, ok := strings.Cut(line, "/clientui.go:"); ok {
			return " at clientui.go:" + strings.Fields(site)[0]
		}
	}
	return ""
}

// placeOrderStack returns the stack of a goroutine that is in ClientUI's PlaceOrder, or "".
func placeOrderStack() string {
	buf := make([]byte, 1<<20)
	for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
		if strings.Contains(g, "(*ClientUI).PlaceOrder") {
			return g
		}
	}
	return ""
}

// whyNoAnswer says what PlaceOrder is waiting for, from the timeline: a confirm on a network that went silent and
// that nothing has cut yet, or, with the network healthy, something in ClientUI's own code.
func whyNoAnswer(env *harness.Env) string {
	silent := false
	for _, e := range env.Timeline.Entries() {
		if strings.HasPrefix(e.Actor, "clientui") && strings.HasPrefix(e.Text, "network to the broker silently drops") {
			silent = true
		}
		if strings.HasPrefix(e.Actor, "clientui") && strings.HasPrefix(e.Text, "broker connection cut") {
			silent = false
		}
	}
	if silent {
		return ", waiting for a confirm that will never come (the network went silent, and nothing has cut it)"
	}
	return " with the network healthy: the broker answers, so ClientUI's own code holds it up (a NotifyPublish or " +
		"NotifyReturn listener nobody reads blocks the library, and every confirm and close after it)"
}

// startSales runs Sales' consumer as its own process and waits until it is consuming.
func startSales(env *harness.Env, queue SalesQueue) {
	env.T.Helper()
	proc := env.Process("sales")
	sales := &Sales{DB: proc.Pool()}
	conn := proc.MustDial()
	proc.Go(func(ctx context.Context) error { return sales.Consume(ctx, conn, queue) })
	if !env.WaitConsuming(queue.Name, 1) {
		env.T.Fatalf("Sales did not start consuming %q: %v", env.Short(queue.Name), proc.Err())
	}
}

func storedOrders(env *harness.Env) []string {
	return env.Strings(`SELECT id FROM orders ORDER BY id`)
}

// connections remembers every connection a dialer opened, so a test can see whether ClientUI's are closed. It is
// safe for concurrent use.
type connections struct {
	mu    sync.Mutex
	conns []*amqp.Connection
}

func (c *connections) dialer(proc *harness.Process) Dialer {
	return func() (*amqp.Connection, error) {
		conn, err := proc.Dial()
		if err == nil {
			c.mu.Lock()
			c.conns = append(c.conns, conn)
			c.mu.Unlock()
		}
		return conn, err
	}
}

func (c *connections) allClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, conn := range c.conns {
		if !conn.IsClosed() {
			return false
		}
	}
	return true
}

// only keeps the ids of got that are in want: an order the customer was told failed may still have reached Sales
// (its confirm came too late), which breaks no promise.
func only(want, got []string) []string {
	var out []string
	for _, id := range got {
		if hasAll(want, id) {
			out = append(out, id)
		}
	}
	return out
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
