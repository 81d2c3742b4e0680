// Do not edit: this test shows the failure.

package pubsub

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"msglabs/shared/fault"
	"msglabs/shared/harness"
	"msglabs/shared/leftover"
	"msglabs/shared/shop"
	"msglabs/shared/story"
)

var (
	billed  = story.Expect{Item: "order", From: "placed", Done: "billed"}
	shipped = story.Expect{Item: "order", From: "placed", Done: "shipped"}
)

// brokerLag is how late the broker's answers reach Sales in TestUnroutableOrderIsNoticed: a busy broker, a slow
// network. A return that "comes back quickly" on a laptop comes back this late on a bad day.
const brokerLag = 200 * time.Millisecond

// Subscribers can run in OS processes of their own (harness.Spawn): a restarted Billing is a new process with no
// memory of the old one, and two Billing instances share none.
func TestMain(m *testing.M) { harness.Main(m, harness.Roles{"subscriber": runSubscriber}) }

// runSubscriber runs one subscriber instance in its own process: it subscribes as the service given, with the
// binding given, and tells the test about every order it handles. Broker names come from the test (env.Name).
func runSubscriber(ctx context.Context, s *harness.Service) error {
	sub := &Subscriber{Service: s.Arg("service"), Binding: s.Arg("binding"),
		Names: func(name string) string { return s.Call("name", name) },
		Handle: func(_ context.Context, ev shop.OrderPlaced) error {
			s.Call("handled", ev.OrderID)
			return nil
		}}
	subscription, err := sub.Subscribe(ctx, s.MustDial())
	if err != nil {
		return err
	}
	return subscription.Serve(ctx)
}

// Billing has subscribed to OrderPlaced for months. Today Shipping subscribes too. Every order must reach both.
func TestEverySubscriberGetsEveryOrder(t *testing.T) {
	env := harness.New(t)
	billing := startSubscriber(env, "billing", OrderPlacedKey)
	shipping := startSubscriber(env, "shipping", OrderPlacedKey)
	sales := startSales(env)

	want := []string{"o-1", "o-2", "o-3", "o-4"}
	publishAll(env, sales, want, mustRoute)
	env.Settle(func() bool { return len(billing.ids()) == len(want) && len(shipping.ids()) == len(want) })

	why := []string{
		"Billing and Shipping both subscribed to OrderPlaced with the binding \"order.placed\": each order must reach each of them.",
		fmt.Sprintf("Billing handled [%s]; Shipping handled [%s].", strings.Join(billing.ids(), " "), strings.Join(shipping.ids(), " ")),
	}
	env.ExactlyOnce(billed, want, billing.ids(), why...)
	env.ExactlyOnce(shipped, want, shipping.ids(), why...)
	mustBeThisRunsOwn(env, "billing", "shipping")
}

// Billing is redeployed: the old process is killed while idle, and Sales places two orders before the new one is up.
// They must wait for Billing, and the new Billing (a new process) must bill them.
func TestRestartedSubscriberMissesNothing(t *testing.T) {
	env := harness.New(t)
	billing := &handled{env: env, service: "billing"}
	first := spawnSubscriber(env, "billing", "billing", OrderPlacedKey, billing)
	sales := startSales(env)

	refused := publishAll(env, sales, []string{"o-1"}, mustRoute)
	if !env.Settle(func() bool { return len(billing.ids()) == 1 && env.Unacked() == 0 }) {
		env.Fail(story.Lost, "order o-1 was never billed, with Billing up and nothing else going on (Billing handled [%s])",
			strings.Join(billing.ids(), " "))
	}
	first.Kill()
	for id, err := range publishAll(env, sales, []string{"o-2", "o-3"}, mayFail) {
		refused[id] = err
	}
	spawnSubscriber(env, "billing", "billing", OrderPlacedKey, billing) // billing#2: a new process
	want := []string{"o-1", "o-2", "o-3"}
	env.Settle(func() bool { return len(billing.ids()) == len(want) })
	env.ExactlyOnce(billed.Because("o-2 and o-3 were placed while Billing was being restarted"), want, billing.ids(),
		append([]string{fmt.Sprintf("Billing handled [%s].", strings.Join(billing.ids(), " "))}, whatSalesWasTold(refused)...)...)
	mustSurviveABrokerRestart(env, "billing")
}

// mustSurviveABrokerRestart fails the test, LOST, when actor declared its queue transient: the orders waiting in it
// while the service restarts would be gone if the broker restarted too (a deploy, a crash), queue and all.
func mustSurviveABrokerRestart(env *harness.Env, actor string) {
	env.T.Helper()
	for _, e := range env.Timeline.Entries() {
		if e.Kind == story.Declare && strings.HasPrefix(e.Actor, actor) && strings.HasPrefix(e.Text, "declared queue") &&
			!strings.HasSuffix(e.Text, "(durable)") {
			env.Fail(story.Lost, "Billing's queue is transient (%s %s): the orders waiting in it while Billing restarts "+
				"would be lost, queue and all, if the broker restarted too", e.Actor, e.Text)
		}
	}
}

// Billing is scaled out to two instances (two processes) to keep up with the evening rush. They share Billing's work:
// every order is billed once, not once per instance.
func TestScaledOutBillingBillsEachOrderOnce(t *testing.T) {
	env := harness.New(t)
	billing := &handled{env: env, service: "billing"}
	spawnSubscriber(env, "billing-a", "billing", OrderPlacedKey, billing)
	spawnSubscriber(env, "billing-b", "billing", OrderPlacedKey, billing)
	sales := startSales(env)

	want := []string{"o-1", "o-2", "o-3", "o-4"}
	publishAll(env, sales, want, mustRoute)
	env.Settle(func() bool { return len(billing.ids()) >= len(want) && env.Unacked() == 0 })
	env.ExactlyOnce(billed.Because("Billing runs as two instances, billing-a and billing-b"), want, billing.ids(),
		billing.byInstance())
}

// Shipping is the first service to subscribe to OrderPlaced, and its binding key has a typo. The event reaches nobody:
// that may happen, but Sales must not believe it was delivered. The broker is busy today: its answers reach Sales
// brokerLag late, and the caller gives up on the next order before they come. Once Billing has subscribed properly,
// the order after must go through without complaint: the late return of the one before is not its own.
func TestUnroutableOrderIsNoticed(t *testing.T) {
	env := harness.New(t)
	const typo = "order.palced"
	shipping := startSubscriber(env, "shipping", typo)
	sales := startSalesAs(env, env.Process("sales"), brokerLag)

	start := time.Now()
	err := sales.PublishOrderPlaced(env.Context(), shop.OrderPlaced{OrderID: "o-1", Customer: "bob", Cents: 900})
	took := time.Since(start).Round(time.Millisecond)
	switch {
	case errors.Is(err, ErrUnroutable):
		env.Log("sales", "noticed: %v", err)
	case err != nil:
		env.Fail(story.Stalled, "Sales could not say what became of order o-1: publishing it failed after %s, but not as "+
			"ErrUnroutable: %v", took, err)
	default:
		var details []string
		if env.Settle(func() bool { return len(shipping.ids()) > 0 }) {
			details = append(details, fmt.Sprintf("Shipping received it anyway: its queue was bound with a key other than "+
				"the %q it subscribed with (see the bind line)", typo))
		}
		env.ShowSetUp() // the bindings are the story
		env.FailWith(story.Lost, details, "order o-1 was placed and reached no subscriber that asked for it, and Sales was "+
			"told it was published: Shipping bound its queue with %q instead of %q, so the exchange had nowhere to route "+
			"the event and dropped it without a word%s", typo, OrderPlacedKey, returnedAfter(took))
	}

	// o-2 is unroutable too, and the caller gives up on it before the broker's answers can arrive: its return comes
	// in after Sales has moved on to o-3.
	ctx, cancel := context.WithTimeout(env.Context(), gaveUpAfter)
	err = sales.PublishOrderPlaced(ctx, shop.OrderPlaced{OrderID: "o-2", Customer: "bob", Cents: 900})
	cancel()
	if err == nil {
		env.Fail(story.Lost, "order o-2 reached no subscriber, and Sales was told it was published: the caller gave up after %s, "+
			"before the broker could answer, and Sales called that a success", gaveUpAfter)
	}
	env.Log("sales", "gave up on o-2: %v", err)

	billing := startSubscriber(env, "billing", OrderPlacedKey)
	err = sales.PublishOrderPlaced(env.Context(), shop.OrderPlaced{OrderID: "o-3", Customer: "bob", Cents: 900})
	switch {
	case errors.Is(err, ErrUnroutable):
		env.Fail(story.Crosstalk, "order o-3 was reported unroutable although Billing's queue is bound for it: Sales took "+
			"the return of %s, which came in while it waited for o-3's confirm, for o-3's own (a return names its message "+
			"by MessageId): %v", returnedDuring(env, "placed-o-3"), err)
	case err != nil:
		env.Fail(story.Lost, "order o-3 was never published: Sales' publish failed with Billing subscribed: %v", err)
	}
	env.Settle(func() bool { return len(billing.ids()) == 1 })
	env.ExactlyOnce(billed, []string{"o-3"}, billing.ids())
}

// returnedDuring lists the messages other than id that the broker returned to Sales after Sales published id.
func returnedDuring(env *harness.Env, id string) string {
	var others []string
	published := false
	for _, e := range env.Timeline.Entries() {
		switch {
		case e.Actor == "sales" && e.Kind == story.Publish && e.Message == id:
			published = true
		case published && e.Actor == "sales" && e.Kind == story.Return && e.Message != id:
			others = append(others, e.Message)
		}
	}
	if len(others) == 0 {
		return "another message"
	}
	return strings.Join(others, ", ")
}

// plainPublish is more than a publish that waits for nothing takes, even on a busy machine.
const plainPublish = 20 * time.Millisecond

// gaveUpAfter is how long the caller waits for Sales' publish of o-2 in TestUnroutableOrderIsNoticed: less than
// brokerLag, so the broker's return of o-2 reaches Sales after the publish has returned.
const gaveUpAfter = brokerLag / 4

// The broker is slow tonight, and Shipping's binding still has its typo. Three callers give up on Sales' publish
// before the broker answers, so the returns of o-1, o-2 and o-3 come in late, with no publish waiting for them.
// Then Billing subscribes properly, and the next order must go through: a return nobody takes holds up the library,
// and every confirm behind it.
func TestLateReturnsDoNotWedgeSales(t *testing.T) {
	env := harness.New(t)
	startSubscriber(env, "shipping", "order.palced")
	sales := startSalesAs(env, env.Process("sales"), brokerLag)
	for _, id := range []string{"o-1", "o-2", "o-3"} {
		ctx, cancel := context.WithTimeout(env.Context(), gaveUpAfter)
		err := sales.PublishOrderPlaced(ctx, shop.OrderPlaced{OrderID: id, Customer: "dan", Cents: 700})
		cancel()
		if err == nil {
			env.Fail(story.Lost, "order %s reached no subscriber, and Sales was told it was published: the caller gave up "+
				"after %s, before the broker could answer, and Sales called that a success", id, gaveUpAfter)
		}
		env.Log("sales", "gave up on %s: %v", id, err)
	}

	billing := startSubscriber(env, "billing", OrderPlacedKey)
	err := sales.PublishOrderPlaced(env.Context(), shop.OrderPlaced{OrderID: "o-4", Customer: "dan", Cents: 700})
	if err != nil {
		env.Fail(story.Stalled, "order o-4 was never published although Billing is subscribed: Sales' publish failed (%v) "+
			"after the late returns of o-1, o-2 and o-3, which no publish was waiting for; a return nobody takes holds up "+
			"the library, and every confirm behind it", err)
	}
	env.Settle(func() bool { return len(billing.ids()) == 1 })
	env.ExactlyOnce(billed, []string{"o-4"}, billing.ids())
}

// returnedAfter says how long a publish took to return nil, when that is worth saying: a wait for a return, longer
// than plainPublish.
func returnedAfter(took time.Duration) string {
	if took < plainPublish {
		return ""
	}
	return fmt.Sprintf(" (Sales' publish returned nil after %s)", took)
}

// mustBeThisRunsOwn fails the test, CROSSTALK, when a service declared a queue under a name of its own instead of one
// from Names: thirty attendees share one broker, and a queue they all call "billing.order-placed" would hand each
// attendee's orders to everyone's Billing. The stray queue is deleted.
func mustBeThisRunsOwn(env *harness.Env, services ...string) {
	env.T.Helper()
	var stray []string
	for _, e := range env.Timeline.Entries() {
		if e.Kind == story.Declare && contains(services, e.Actor) && strings.HasPrefix(e.Text, "declared queue") &&
			!contains(stray, e.Peer) && e.Peer != serverNamed && !env.QueueExists(env.Name(e.Peer)) {
			stray = append(stray, e.Peer) // the timeline shows names without this run's prefix: this one had none
		}
	}
	if len(stray) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(env.Context()), harness.Patience)
	defer cancel()
	if err := leftover.DeleteBrokerNames(ctx, env.AMQPURL(), stray...); err != nil {
		env.Log(story.TestActor, "could not delete the stray queue(s) %s: %v", strings.Join(stray, ", "), err)
	}
	env.Fail(story.Crosstalk, "queue %q is shared by every test run on this broker: it was declared without Names, so "+
		"the next attendee's Billing takes this run's orders, and this run's the next attendee's", stray[0])
}

// serverNamed is the name a queue is declared with when the broker is to name it ("amq.gen-…"): unique, so never
// shared.
const serverNamed = ""

// publish policies: whether a publish that fails fails the test.
const (
	mustRoute = true  // every order has a subscriber: a failed publish is a lost order
	mayFail   = false // a failure is what Sales was told: the verdict comes later
)

// publishAll has Sales publish OrderPlaced for each order, one after the other. It returns what Sales was told for
// each order whose publish failed; with mustRoute, a failed publish fails the test at once.
func publishAll(env *harness.Env, sales *Sales, ids []string, policy bool) map[string]error {
	env.T.Helper()
	failed := map[string]error{}
	for _, id := range ids {
		err := sales.PublishOrderPlaced(env.Context(), shop.OrderPlaced{OrderID: id, Customer: "ann", Cents: 1500})
		if err == nil {
			continue
		}
		env.Log("sales", "publishing OrderPlaced %s failed: %v", id, err)
		if policy == mustRoute {
			env.Fail(story.Lost, "order %s was never published: Sales' publish failed although every subscriber was up: %v", id, err)
		}
		failed[id] = err
	}
	return failed
}

// whatSalesWasTold lists the publishes that failed, for a verdict's details.
func whatSalesWasTold(failed map[string]error) []string {
	var out []string
	for id, err := range failed {
		out = append(out, fmt.Sprintf("Sales was told for %s: %v", id, err))
	}
	sort.Strings(out)
	return out
}

// startSubscriber runs service as a process of the test's own, subscribed with binding, and returns what it has
// handled.
func startSubscriber(env *harness.Env, service, binding string) *handled {
	env.T.Helper()
	proc := env.Process(service)
	h := &handled{env: env, service: service}
	sub := &Subscriber{Service: service, Binding: binding, Names: env.Name,
		Handle: func(_ context.Context, ev shop.OrderPlaced) error { h.add(proc.Name, ev.OrderID); return nil }}
	subscription, err := sub.Subscribe(proc.Context(), proc.MustDial())
	if err != nil {
		env.T.Fatalf("%s could not subscribe: %v", service, err)
	}
	proc.Go(subscription.Serve)
	return h
}

// spawnSubscriber runs an instance of service called name in an OS process of its own, subscribed with binding,
// recording what it handles in h. It returns once the instance has subscribed.
func spawnSubscriber(env *harness.Env, name, service, binding string, h *handled) *harness.Process {
	env.T.Helper()
	proc := env.SpawnRole(name, "subscriber", harness.Args{"service": service, "binding": binding})
	proc.On("name", func(name string) string { return env.Name(name) })
	proc.On("handled", func(orderID string) string { h.add(proc.Name, orderID); return "" })
	if !env.Eventually(func() bool { return consuming(env, proc.Name) || proc.Dead() }) || proc.Dead() {
		env.T.Fatalf("%s did not subscribe: %v", proc.Name, proc.Err())
	}
	return proc
}

// consuming reports whether the timeline shows actor consuming from a queue.
func consuming(env *harness.Env, actor string) bool {
	for _, e := range env.Timeline.Entries() {
		if e.Actor == actor && e.Kind == story.Consume && strings.HasPrefix(e.Text, "consuming from") {
			return true
		}
	}
	return false
}

// startSales runs Sales' publisher as its own process.
func startSales(env *harness.Env) *Sales {
	env.T.Helper()
	return startSalesAs(env, env.Process("sales"), 0)
}

// startSalesAs starts Sales' publisher as proc; once it is set up, the broker's answers reach it lag late.
func startSalesAs(env *harness.Env, proc *harness.Process, lag time.Duration) *Sales {
	env.T.Helper()
	sales, err := NewSales(proc.MustDial(), env.Name)
	if err != nil {
		env.T.Fatalf("start Sales: %v", err)
	}
	if lag > 0 {
		proc.Slow(fault.Down, lag) // the timeline says so
	}
	return sales
}

// handled records the orders one service handled, over all its instances. It is safe for concurrent use.
type handled struct {
	env     *harness.Env
	service string
	mu      sync.Mutex
	orders  []string
	by      map[string][]string // instance → orders
}

func (h *handled) add(instance, orderID string) {
	h.mu.Lock()
	h.orders = append(h.orders, orderID)
	if h.by == nil {
		h.by = map[string][]string{}
	}
	h.by[instance] = append(h.by[instance], orderID)
	h.mu.Unlock()
	h.env.Log(instance, "handled OrderPlaced %s", orderID)
}

func (h *handled) ids() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.orders...)
}

// byInstance says which instance handled what: "billing-a handled [o-1 o-3]; billing-b handled [o-2 o-4]".
func (h *handled) byInstance() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var parts []string
	for instance, orders := range h.by {
		parts = append(parts, fmt.Sprintf("%s handled [%s]", instance, strings.Join(orders, " ")))
	}
	sort.Strings(parts)
	return strings.Join(parts, "; ")
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
