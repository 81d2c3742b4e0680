// Do not edit: this test shows the failure.

package outbox

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	amqp "github.com/rabbitmq/amqp091-go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"msglabs/shared/fault"
	"msglabs/shared/harness"
	"msglabs/shared/shop"
	"msglabs/shared/story"
)

var charged = story.Expect{Item: "order", From: "stored by Sales", Done: "charged by Billing"}

// Sales runs in OS processes of its own (harness.Spawn): its HTTP front and its relay (Run), as in production. A
// restarted Sales has no memory of the last one, and three Sales instances are three relays that share nothing but
// the database. The crashes are read off the wire (fault.AfterCommitTo, fault.BeforeCommitTo), so they happen where
// the database commits, whatever the code does around it.
func TestMain(m *testing.M) { harness.Main(m, harness.Roles{"sales": runSales}) }

// runSales runs one Sales instance in its own process: its HTTP front on a free port (it tells the test where, with
// the call "listening") and its relay. It tells the test the id of every span it ends (the call "span").
func runSales(ctx context.Context, s *harness.Service) error {
	tracer := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spanReporter{s})).Tracer("sales")
	sales := &Sales{DB: s.Pool(), Broker: s.MustDial(), Exchange: s.Arg("exchange"),
		Tracer: tracer, Propagator: propagation.TraceContext{}, Logf: s.Logf}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	server := &http.Server{Handler: sales, ReadHeaderTimeout: harness.Patience}
	go func() { _ = server.Serve(ln) }()
	defer server.Close()
	s.Call("listening", ln.Addr().String())
	return sales.Run(ctx)
}

// spanReporter tells the test the id of each span a Sales process ends.
type spanReporter struct{ s *harness.Service }

func (r spanReporter) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (r spanReporter) OnEnd(span sdktrace.ReadOnlySpan) {
	r.s.Call("span", span.SpanContext().SpanID().String())
}
func (r spanReporter) Shutdown(context.Context) error   { return nil }
func (r spanReporter) ForceFlush(context.Context) error { return nil }

const (
	// relayQuiet is how long the wire must stay silent before a test calls the shop idle and judges it. An outbox
	// relay polls and claims its rows in the database, where the timeline does not look, so a correct relay on a busy
	// machine may be silent for a while before it publishes. Only a failing lab waits this long: a passing one is
	// judged the moment its orders are charged.
	relayQuiet = 500 * time.Millisecond
	// slowDelete is how long the database takes over the first delete (or update) of outbox rows in
	// TestThreeRelaysPublishEachEventOnce: long enough for the other relays to look at the outbox meanwhile.
	slowDelete = 250 * time.Millisecond
	// slowLink is the latency on Sales' broker link in TestRelayDeletesOnlyWhatTheBrokerConfirmed (a publish reaches
	// the broker this much later than Sales sent it) and in TestLateCommitIsNotSkipped (a confirm reaches Sales this
	// much later than the broker sent it).
	slowLink = 200 * time.Millisecond
)

// Step 1: the order and its event commit together.

// Sales commits order o-1 and dies that instant, before anything else it sends arrives (a deploy, a power cut). When
// Sales is back, Billing must still hear of o-1.
func TestCrashAfterCommitStillAnnouncesOrder(t *testing.T) {
	w := newWorld(t)
	first := w.startSales("sales")
	first.proc.CrashOn(fault.AfterCommitTo("orders", 1))
	w.placeOrder(context.Background(), first, "o-1")
	w.waitCrash(first)

	w.startSales("sales") // Sales is back
	w.env.SettleFor(relayQuiet, func() bool { return len(w.chargedOrders()) >= 1 }, w.queue)
	w.judge("Sales died right after the transaction that stored o-1 committed")
}

// Sales dies as it commits o-1: the commit never reaches the database, so the order is rolled back and nobody may
// hear of it. Then o-2, o-3 and o-4 are placed normally, one after the other, and nothing fails: each OrderPlaced
// must be published once. (This passes in the starter; it fails if OrderPlaced is published, or written to the
// outbox, before the order's own transaction commits, or published besides being written to the outbox.)
func TestRolledBackOrderIsNeverAnnounced(t *testing.T) {
	w := newWorld(t)
	first := w.startSales("sales")
	first.proc.CrashOn(fault.BeforeCommitTo("orders", 1))
	w.placeOrder(context.Background(), first, "o-1")
	w.waitCrash(first)

	second := w.startSales("sales")
	later := []string{"o-2", "o-3", "o-4"}
	for _, id := range later {
		w.mustPlace(context.Background(), second, id)
		w.env.SettleFor(relayQuiet, func() bool { // every copy published so far has been delivered and acked
			return slices.Contains(w.chargedOrders(), id) && w.env.Int(`SELECT count(*) FROM outbox`) == 0 &&
				w.env.Idle(w.queue)
		}, w.queue)
	}
	w.judge("Sales died as it committed o-1: the commit never reached the database, so o-1 was rolled back; then " +
		"o-2, o-3 and o-4 were placed one after the other")
	for _, id := range later {
		w.judgeAnnouncedOnce(id, id+" was placed with Sales up")
	}
	if left := w.env.Int(`SELECT count(*) FROM outbox`); left > 0 {
		w.env.Fail(story.Stalled, "the relay stopped with nothing failing: o-2, o-3 and o-4 were charged, but %d of "+
			"their outbox rows were never deleted: the relay published the event and never finished the batch", left)
	}
}

// Step 2: the relay.

// Two orders are being stored at the same time. o-1's transaction took its outbox row first (id 1) but runs long;
// o-2's (id 2) commits, and o-2 is announced. Sales' broker link is slow to answer, so the relay is still waiting for
// the confirm of o-2's event when o-1 commits. Billing must hear of o-1 too.
func TestLateCommitIsNotSkipped(t *testing.T) {
	w := newWorld(t)
	sales := w.startSales("sales")
	sales.proc.Slow(fault.Down, slowLink) // each confirm reaches the relay this much after the broker sent it
	late := w.beginEvents("o-1")
	w.storeEvents("o-2")
	if !w.env.Eventually(func() bool { return w.env.Deliveries(messageID("o-2")) > 0 }) {
		late.rollback()
		w.judge("o-2 was stored while o-1's transaction was still open")
	}
	// The relay's batch (o-2) is waiting for its confirm, which is on its way: hold it until o-1 has committed, so
	// the commit lands in that wait however slow this machine is, then let it go.
	sales.proc.Slow(fault.Down, harness.Patience)
	late.commit()
	sales.proc.Slow(fault.Down, 0)
	w.env.SettleFor(relayQuiet, func() bool { return len(w.chargedOrders()) >= 2 }, w.queue)
	w.judge("o-1's transaction wrote its outbox row (id 1) before o-2's (id 2) but committed after o-2 was published, " +
		"while the relay waited for its confirm")
}

// Three Sales instances run, so three relays share one outbox. Ten orders wait in it. The database is slow for a
// moment: the first delete of relayed rows takes a quarter of a second, while the other relays look at the outbox.
// Nothing crashes, so every event must be published exactly once: Billing's inbox would hide a copy, but every other
// consumer of OrderPlaced (and the broker) would carry it.
func TestThreeRelaysPublishEachEventOnce(t *testing.T) {
	w := newWorld(t)
	for i := 1; i <= 3; i++ {
		w.startSales(fmt.Sprintf("sales-%d", i))
	}
	w.slowFirstDelete()
	orders := makeOrders(1, 10)
	w.storeEvents(orders...)
	w.env.SettleFor(relayQuiet, func() bool { return w.relayed(orders) }, w.queue)
	w.env.Settle(func() bool { return false }, w.queue) // a copy published late still shows up
	w.judgePublishedOnce(orders, "three relays shared the outbox; the first delete of relayed rows took "+slowDelete.String())
	w.judge("three relays shared the outbox")
}

// The relay publishes o-1's event and dies right after its transaction that deletes the row has committed. The broker
// link is slow (each publish arrives a moment after it was sent), so the event reaches Billing only if the relay
// waited for the broker's confirm before it deleted the row. (This passes in the starter; it fails if the rows are
// deleted before their confirms.)
func TestRelayDeletesOnlyWhatTheBrokerConfirmed(t *testing.T) {
	w := newWorld(t)
	sales := w.startSales("sales")
	sales.proc.Slow(fault.Up, slowLink)
	sales.proc.CrashOn(fault.AfterCommitTo("outbox", 1))
	w.storeEvents("o-1")
	w.waitCrash(sales)

	w.startSales("sales")
	w.env.SettleFor(relayQuiet, func() bool { return len(w.chargedOrders()) >= 1 }, w.queue)
	w.judge(fmt.Sprintf("Sales' relay died right after the transaction that deleted o-1's outbox row committed, "+
		"with its broker link %v slow", slowLink))
}

// The relay publishes o-1's event; the broker confirms it; the relay dies before the transaction that deletes the
// row commits (its commit never reaches the database). The restarted relay publishes the event again: at least once.
// Billing, an idempotent consumer (lab 5), must still charge o-1 once. (This passes in the starter; it fails if a
// published copy does not carry the row's message id.)
func TestCrashAfterPublishChargesOnce(t *testing.T) {
	w := newWorld(t)
	first := w.startSales("sales")
	first.proc.CrashOn(fault.BeforeCommitTo("outbox", 1))
	w.storeEvents("o-1")
	w.waitCrash(first)

	w.startSales("sales")
	w.env.SettleFor(relayQuiet, func() bool { // done once the second copy was delivered and settled
		return w.env.Deliveries(messageID("o-1")) >= 2 && w.env.Unacked() == 0 && len(w.chargedOrders()) >= 1
	}, w.queue)
	w.judge("Sales' relay died after the broker confirmed o-1's event, before the row's delete committed")
}

// Billing's queue is full (it holds one message and refuses more), so the broker refuses o-1's event with a negative
// confirm. The same transaction put a second event after it in the outbox, for a routing key no queue is bound to:
// the broker drops that one and confirms it, positively, in the same batch. Once the queue has room again, o-1's
// event must get there: a refused message is not a sent one. (This passes in the starter; it fails if the relay
// deletes a row whose message the broker refused.)
func TestRefusedEventIsPublishedAgain(t *testing.T) {
	w := newWorldWithoutBilling(t)
	ops := w.fullQueue()
	sales := w.startSales("sales")
	held := w.beginEvents("o-1")
	w.insertUnrouted(held.tx, "noted-o-1")
	held.commit()
	if !w.env.Eventually(func() bool { return len(w.env.Refusals(sales.proc.Name)) > 0 }) {
		t.Fatalf("the broker never refused o-1's event: %v", sales.proc.Err())
	}
	w.env.Log("test", "billing's queue has room again (the test purged it)")
	if _, err := ops.QueuePurge(w.queue, false); err != nil { // noWait=false
		t.Fatalf("purge %q: %v", w.env.Short(w.queue), err)
	}
	if !w.env.SettleFor(relayQuiet, func() bool { return w.env.MustDepth(w.queue) == 1 }, w.queue) {
		w.env.Fail(story.Lost, "order o-1 was never announced: the broker refused its OrderPlaced (billing's queue "+
			"was full) and confirmed the event after it in the same batch, and once the queue had room o-1's event "+
			"was not published again (%d row(s) left in the outbox)", w.env.Int(`SELECT count(*) FROM outbox`))
	}
}

// Step 3: the trace.

// The customer's request carries a W3C trace context. Billing's span for the order must belong to that trace, so
// one trace shows the order from the click to the charge.
func TestTraceReachesBilling(t *testing.T) {
	w := newWorld(t)
	sales := w.startSales("sales")
	ctx, click := w.tracer.Tracer("customer").Start(context.Background(), "customer: POST /orders")
	w.mustPlace(ctx, sales, "o-1")
	click.End()

	w.env.SettleFor(relayQuiet, func() bool { return w.billingSpan("o-1") != nil }, w.queue)
	w.judge("the customer placed o-1 with Sales up")
	span := w.billingSpan("o-1")
	want := click.SpanContext().TraceID()
	switch {
	case span == nil:
		w.env.Fail(story.Lost, "the trace context of order o-1 was lost between Sales and Billing: Billing charged o-1 "+
			"but recorded no %q span", BillingSpan)
	case span.SpanContext().TraceID() != want:
		w.env.FailWith(story.Lost, []string{
			fmt.Sprintf("the customer's request: trace %s", want),
			fmt.Sprintf("Billing's span %q: trace %s, no parent: %v", span.Name(), span.SpanContext().TraceID(), !span.Parent().IsValid()),
			"the traceparent must travel with OrderPlaced, in its message headers",
		}, "the trace context of order o-1 was lost between Sales and Billing: Billing's span started a new trace "+
			"instead of continuing the customer's request")
	case !w.salesSpan(span.Parent().SpanID().String()): // Sales ends its request's span before it answers
		w.env.FailWith(story.Lost, []string{
			fmt.Sprintf("Billing's span %q: trace %s, parent span %s", span.Name(), span.SpanContext().TraceID(),
				span.Parent().SpanID()),
			"Sales' spans: " + strings.Join(w.salesSpanIDs(), ", "),
			"the traceparent names the span of the request that wrote the event: its parent-id is that span's id",
		}, "the trace context of order o-1 was lost between Sales and Billing: Billing's span joined the customer's "+
			"trace under a parent span that Sales never had, so the trace shows no path from Sales' request to the charge")
	}
}

// salesSpan reports whether a Sales process ended a span with this id.
func (w *world) salesSpan(id string) bool { return slices.Contains(w.salesSpanIDs(), id) }

// salesSpanIDs returns the ids of the spans Sales' processes have ended so far.
func (w *world) salesSpanIDs() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.salesSpans)
}

// world is one test's shop: Billing running (in the test's process, with an in-memory span recorder), Sales'
// processes, Sales' database.
type world struct {
	env             *harness.Env
	exchange, queue string
	tracer          *sdktrace.TracerProvider
	spans           *tracetest.SpanRecorder

	mu         sync.Mutex
	salesSpans []string // the ids of the spans Sales' processes ended
}

// salesProc is one running Sales: its process and where its HTTP front listens.
type salesProc struct {
	proc *harness.Process
	addr string
}

func newWorld(t *testing.T) *world {
	w := newWorldWithoutBilling(t)
	w.startBilling()
	return w
}

// newWorldWithoutBilling is a world in which nobody consumes Billing's queue yet.
func newWorldWithoutBilling(t *testing.T) *world { return worldIn(harness.New(t)) }

// worldIn builds a world in env.
func worldIn(env *harness.Env) *world {
	env.Exec(Schema)
	env.Exec(BillingSchema)
	spans := tracetest.NewSpanRecorder()
	w := &world{env: env, exchange: env.Name("sales"), queue: env.Name("billing"), spans: spans,
		tracer: sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))}
	env.T.Cleanup(func() { _ = w.tracer.Shutdown(context.Background()) })
	return w
}

// startBilling runs Billing (a correct idempotent consumer) in the test's process and waits until it consumes.
func (w *world) startBilling() {
	proc := w.env.Process("billing")
	billing := &Billing{DB: proc.Pool(), Tracer: w.tracer.Tracer("billing"), Propagator: propagation.TraceContext{},
		Logf: func(format string, args ...any) { w.env.Log(proc.Name, format, args...) }}
	conn := proc.MustDial()
	proc.Go(func(ctx context.Context) error { return billing.Consume(ctx, conn, w.exchange, w.queue) })
	if !w.env.WaitConsuming(w.queue, 1) {
		w.env.T.Fatalf("Billing did not start consuming: %v", proc.Err())
	}
}

// startSales starts a Sales process called name (a restart when one ran before) and waits until its HTTP front
// listens and its relay has declared Sales' exchange.
func (w *world) startSales(name string) *salesProc {
	w.env.T.Helper()
	listening := make(chan string, 1)
	proc := w.env.SpawnRole(name, "sales", harness.Args{"exchange": w.exchange})
	proc.On("listening", func(addr string) string { listening <- addr; return "" })
	proc.On("span", func(id string) string {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.salesSpans = append(w.salesSpans, id)
		return ""
	})
	s := &salesProc{proc: proc}
	select {
	case s.addr = <-listening:
	case <-time.After(harness.Patience):
		w.env.T.Fatalf("%s never started listening for orders: %v", proc.Name, proc.Err())
	}
	if !w.env.Eventually(func() bool { return w.declared(proc.Name) }) {
		w.env.T.Fatalf("%s's relay never declared exchange %q: %v", proc.Name, w.env.Short(w.exchange), proc.Err())
	}
	return s
}

// declared reports whether actor has declared Sales' exchange.
func (w *world) declared(actor string) bool {
	for _, e := range w.env.Timeline.Entries() {
		if e.Kind == story.Declare && e.Actor == actor && e.Peer == w.env.Short(w.exchange) {
			return true
		}
	}
	return false
}

// placeOrder is the customer clicking "buy": POST /orders to s's HTTP front. ctx carries the customer's trace, if any.
// The HTTP status arrives on the channel (0 when Sales died before it answered).
func (w *world) placeOrder(ctx context.Context, s *salesProc, orderID string) <-chan int {
	body, _ := json.Marshal(shop.PlaceOrder{OrderID: orderID, Customer: "ann", Cents: 4200})
	req, err := http.NewRequest(http.MethodPost, "http://"+s.addr+"/orders", bytes.NewReader(body))
	if err != nil {
		w.env.T.Fatal(err)
	}
	propagation.TraceContext{}.Inject(ctx, propagation.HeaderCarrier(req.Header))
	status := make(chan int, 1)
	w.env.Log("customer", "POST /orders %s to %s", orderID, s.proc.Name)
	go func() {
		client := &http.Client{Timeout: harness.Patience}
		resp, err := client.Do(req)
		if err != nil {
			w.env.Log("customer", "POST /orders %s got no answer: %v", orderID, err)
			status <- 0
			return
		}
		resp.Body.Close()
		w.env.Log("customer", "POST /orders %s answered %s", orderID, resp.Status)
		status <- resp.StatusCode
	}()
	return status
}

// mustPlace places an order and fails the test unless Sales answers 201 Created.
func (w *world) mustPlace(ctx context.Context, s *salesProc, orderID string) {
	w.env.T.Helper()
	select {
	case status := <-w.placeOrder(ctx, s, orderID):
		if status != http.StatusCreated {
			w.env.T.Fatalf("placing %s answered %d %s with everything up", orderID, status, http.StatusText(status))
		}
	case <-time.After(harness.Patience + time.Second):
		w.env.T.Fatalf("placing %s got no answer within %v", orderID, harness.Patience)
	}
}

// waitCrash waits until Sales has died of the crash armed on it.
func (w *world) waitCrash(s *salesProc) {
	w.env.T.Helper()
	select {
	case <-s.proc.Crashed():
	case <-time.After(harness.Patience):
		w.env.T.Fatalf("%s never did what its crash waits for: %v", s.proc.Name, s.proc.Err())
	}
}

// messageID is the message id the tests give the OrderPlaced event of an order they store themselves.
func messageID(orderID string) string { return "placed-" + orderID }

// storeEvents stores orders as PlaceOrder would, each with its OrderPlaced in the outbox, in one transaction of the
// test's, and commits it.
func (w *world) storeEvents(orderIDs ...string) {
	w.env.T.Helper()
	w.beginEvents(orderIDs...).commit()
}

// heldEvents is a test transaction that has stored orders and their outbox rows and not committed yet.
type heldEvents struct {
	w      *world
	tx     pgx.Tx
	orders []string
}

// beginEvents stores orders and their outbox rows in a transaction of the test's, and keeps it open.
func (w *world) beginEvents(orderIDs ...string) *heldEvents {
	w.env.T.Helper()
	ctx := w.env.Context()
	tx, err := w.env.DB().Begin(ctx)
	if err != nil {
		w.env.T.Fatalf("begin: %v", err)
	}
	w.env.T.Cleanup(func() { _ = tx.Rollback(context.Background()) })
	for _, id := range orderIDs {
		w.insertEvent(ctx, tx, id)
	}
	w.env.Log("test", "a transaction stored %s with %s, and is still open", listed(orderIDs), rowsOf(len(orderIDs)))
	return &heldEvents{w: w, tx: tx, orders: orderIDs}
}

// insertEvent writes one order and its OrderPlaced outbox row inside tx.
func (w *world) insertEvent(ctx context.Context, tx pgx.Tx, orderID string) {
	placed := shop.OrderPlaced{OrderID: orderID, Customer: "ann", Cents: 4200}
	body, err := shop.Encode(placed)
	if err != nil {
		w.env.T.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO orders (id, customer, cents) VALUES ($1, $2, $3)`,
		placed.OrderID, placed.Customer, placed.Cents); err != nil {
		w.env.T.Fatalf("store %s: %v", orderID, err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO outbox (message_id, message_type, routing_key, body) VALUES ($1, $2, $3, $4)`,
		messageID(orderID), placed.MessageType(), OrderPlacedKey, body); err != nil {
		w.env.T.Fatalf("add %s's event to the outbox: %v", orderID, err)
	}
}

// unroutedKey is the routing key of an event no queue is bound to: the broker drops it and confirms it positively.
const unroutedKey = "OrderNoted"

// insertUnrouted writes an outbox row inside tx whose routing key (unroutedKey) reaches no queue.
func (w *world) insertUnrouted(tx pgx.Tx, messageID string) {
	w.env.T.Helper()
	_, err := tx.Exec(w.env.Context(),
		`INSERT INTO outbox (message_id, message_type, routing_key, body) VALUES ($1, $2, $2, $3)`,
		messageID, unroutedKey, []byte("{}"))
	if err != nil {
		w.env.T.Fatalf("add %s to the outbox: %v", messageID, err)
	}
	w.env.Log("test", "the same transaction added %s to the outbox (routing key %q, bound to no queue)",
		messageID, unroutedKey)
}

func (h *heldEvents) commit() {
	h.w.env.T.Helper()
	if err := h.tx.Commit(h.w.env.Context()); err != nil {
		h.w.env.T.Fatalf("commit %v: %v", h.orders, err)
	}
	h.w.env.Log("test", "the transaction that stored %s committed", listed(h.orders))
}

// listed names orders for a timeline line: "o-1, o-2", or "10 orders (o-1 … o-10)".
func listed(orderIDs []string) string {
	if len(orderIDs) <= 3 {
		return strings.Join(orderIDs, ", ")
	}
	return fmt.Sprintf("%d orders (%s … %s)", len(orderIDs), orderIDs[0], orderIDs[len(orderIDs)-1])
}

// rowsOf says how many outbox rows: "its outbox row", "their 10 outbox rows".
func rowsOf(n int) string {
	if n == 1 {
		return "its outbox row"
	}
	return fmt.Sprintf("their %d outbox rows", n)
}

func (h *heldEvents) rollback() { _ = h.tx.Rollback(context.Background()) }

// makeOrders returns the order ids o-from … o-to.
func makeOrders(from, to int) []string {
	var ids []string
	for i := from; i <= to; i++ {
		ids = append(ids, shop.OrderID(i))
	}
	return ids
}

// relayed reports whether the outbox is empty, every order's event was delivered to Billing at least once and
// nothing is unacked.
func (w *world) relayed(orderIDs []string) bool {
	if w.env.Int(`SELECT count(*) FROM outbox`) > 0 || w.env.Unacked() > 0 {
		return false
	}
	for _, id := range orderIDs {
		if w.env.Deliveries(messageID(id)) == 0 {
			return false
		}
	}
	return true
}

// judgePublishedOnce fails the test unless each order's event reached Billing's queue exactly once (nothing crashed,
// so nothing was redelivered: a delivery is a publish).
func (w *world) judgePublishedOnce(orderIDs []string, what string) {
	w.env.T.Helper()
	var twice []string
	for _, id := range orderIDs {
		if n := w.env.Deliveries(messageID(id)); n > 1 {
			twice = append(twice, fmt.Sprintf("%s %d times", id, n))
		}
	}
	if len(twice) == 0 {
		return
	}
	shown := twice[:min(5, len(twice))]
	w.env.Fail(story.Duplicate, "the OrderPlaced events of %d of %d orders were published more than once with nothing "+
		"failing (%s%s): %s", len(twice), len(orderIDs), strings.Join(shown, ", "), more(len(twice)-len(shown)), what)
}

// judgeAnnouncedOnce fails the test unless the OrderPlaced event Billing charged orderID for reached Billing's queue
// once (nothing crashed, so nothing was redelivered: a delivery is a publish).
func (w *world) judgeAnnouncedOnce(orderID, what string) {
	w.env.T.Helper()
	for _, id := range w.env.Strings(`SELECT message_id FROM charges WHERE order_id = $1`, orderID) {
		if n := w.env.Deliveries(id); n > 1 {
			w.env.Fail(story.Duplicate, "the OrderPlaced event of order %s (%s) was published %d times with nothing "+
				"failing: %s. Billing's inbox dropped the copies, but every other consumer of OrderPlaced gets each "+
				"one: an event in the outbox is published by the relay, and by nobody else", orderID, id, n, what)
		}
	}
}

func more(n int) string {
	if n <= 0 {
		return ""
	}
	return fmt.Sprintf(" and %d more", n)
}

// slowFirstDelete makes the first statement that deletes or updates outbox rows, from any relay, take slowDelete (a
// trigger in the database, so no relay can step around it).
func (w *world) slowFirstDelete() {
	w.env.T.Helper()
	schema := w.env.Schema()
	seq := pgx.Identifier{schema, "slow_delete_calls"}.Sanitize()
	fn := pgx.Identifier{schema, "slow_delete"}.Sanitize()
	w.env.Exec(fmt.Sprintf(`
CREATE SEQUENCE %[1]s;
CREATE FUNCTION %[2]s() RETURNS trigger LANGUAGE plpgsql AS $body$
BEGIN
	IF nextval('%[1]s') = 1 THEN
		PERFORM pg_sleep(%[3]f);
	END IF;
	RETURN NULL;
END
$body$;
CREATE TRIGGER slow_delete BEFORE UPDATE OR DELETE ON outbox FOR EACH STATEMENT EXECUTE FUNCTION %[2]s()`,
		seq, fn, slowDelete.Seconds()))
	w.env.Log("test", "the first delete (or update) of outbox rows will take %v (injected: a trigger in the database)", slowDelete)
}

// fullQueue declares Billing's queue bounded to one message, refusing more (x-overflow reject-publish), bound to
// Sales' exchange, and fills it with one message. It returns the test's channel for looking after the queue.
func (w *world) fullQueue() *amqp.Channel {
	w.env.T.Helper()
	ch, err := w.env.Process("ops").MustDial().Channel()
	if err != nil {
		w.env.T.Fatalf("open channel: %v", err)
	}
	if err := DeclareExchange(ch, w.exchange); err != nil {
		w.env.T.Fatal(err)
	}
	if _, err := ch.QueueDeclare(w.queue,
		true,  // durable
		false, // autoDelete
		false, // exclusive
		false, // noWait
		amqp.Table{"x-max-length": int64(1), "x-overflow": "reject-publish"}); err != nil {
		w.env.T.Fatalf("declare %q: %v", w.env.Short(w.queue), err)
	}
	if err := ch.QueueBind(w.queue, OrderPlacedKey, w.exchange, false, nil); err != nil { // noWait=false
		w.env.T.Fatalf("bind %q: %v", w.env.Short(w.queue), err)
	}
	w.env.Publisher("ops").Raw("", w.queue, amqp.Publishing{MessageId: "filler", Body: []byte("{}")})
	w.env.Log("test", "billing's queue holds one message and refuses more (x-max-length 1, reject-publish)")
	return ch
}

// judge fails the test unless every stored order was charged exactly once and nothing else was charged.
func (w *world) judge(what string) {
	w.env.T.Helper()
	findings := story.ExactlyOnce(charged, w.env.Strings(`SELECT id FROM orders ORDER BY id`), w.chargedOrders())
	if len(findings) == 0 {
		return
	}
	var details []string
	for _, f := range findings[1:] {
		details = append(details, fmt.Sprintf("also %s: %s", f.Marker, f.Headline))
	}
	w.env.FailWith(findings[0].Marker, details, "%s; %s", findings[0].Headline, what)
}

func (w *world) chargedOrders() []string {
	return w.env.Strings(`SELECT order_id FROM charges ORDER BY id`)
}

// billingSpan returns Billing's ended span for an order, or nil.
func (w *world) billingSpan(orderID string) sdktrace.ReadOnlySpan {
	for _, s := range w.spans.Ended() {
		if s.Name() == BillingSpan && hasAttr(s.Attributes(), "order.id", orderID) {
			return s
		}
	}
	return nil
}

func hasAttr(attrs []attribute.KeyValue, key, value string) bool {
	for _, a := range attrs {
		if string(a.Key) == key && a.Value.AsString() == value {
			return true
		}
	}
	return false
}
