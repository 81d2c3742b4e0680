// Do not edit: this test shows the failure.

package outbox

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

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

// relayQuiet is how long the wire must stay silent before a test calls the shop idle and judges it. An outbox relay
// polls and claims its rows in the database, where the timeline does not look, so a correct relay on a busy machine
// may be silent for a while before it publishes. Only a failing lab waits this long: a passing one is judged the
// moment its order is charged.
const relayQuiet = 500 * time.Millisecond

// Sales commits order o-1 and dies before it can publish OrderPlaced (a deploy, a dropped connection). When Sales
// is back, Billing must still hear of o-1.
func TestCrashAfterCommitStillAnnouncesOrder(t *testing.T) {
	w := newWorld(t)
	first := w.startSales("sales")
	first.proc.Points.Arm(fault.AfterCommit)
	w.placeOrder(context.Background(), first, "o-1")
	w.waitCrash(first)

	w.startSales("sales") // Sales is back
	w.env.SettleFor(relayQuiet, func() bool { return len(w.chargedOrders()) >= 1 }, w.queue)
	w.judge(fmt.Sprintf("Sales died at %q: order o-1 was committed, its OrderPlaced not yet published", fault.AfterCommit))
}

// Sales dies while storing o-1, before the commit: the order is rolled back, so nobody may hear of it. Then o-2 is
// placed normally. (This passes in the starter; it fails if OrderPlaced is published before the order commits.)
func TestRolledBackOrderIsNeverAnnounced(t *testing.T) {
	w := newWorld(t)
	first := w.startSales("sales")
	first.proc.Points.Arm(fault.BeforeCommit)
	w.placeOrder(context.Background(), first, "o-1")
	w.waitCrash(first)

	second := w.startSales("sales")
	w.mustPlace(context.Background(), second, "o-2")
	w.env.SettleFor(relayQuiet, func() bool { return contains(w.chargedOrders(), "o-2") }, w.queue)
	w.judge(fmt.Sprintf("Sales died at %q while storing o-1: its transaction rolled back", fault.BeforeCommit))
}

// Sales dies right after the broker confirmed o-1's OrderPlaced, before it could note that the event is out (with
// an outbox: before the relayed row is deleted). Back up, Sales may publish the same message again; Billing, an
// idempotent consumer (lab 5), must still charge o-1 once.
func TestCrashAfterPublishChargesOnce(t *testing.T) {
	w := newWorld(t)
	first := w.startSales("sales")
	first.proc.Points.Arm(fault.AfterPublish)
	w.placeOrder(context.Background(), first, "o-1")
	w.waitCrash(first)

	w.startSales("sales")
	w.env.SettleFor(relayQuiet, func() bool { // done once a second copy of the message was delivered and settled
		ids := w.env.Strings(`SELECT message_id FROM processed_messages`)
		return len(ids) == 1 && w.env.Deliveries(ids[0]) >= 2 && w.env.Unacked() == 0
	}, w.queue)
	w.judge(fmt.Sprintf("Sales died at %q: OrderPlaced for o-1 was confirmed by the broker, not yet marked as sent", fault.AfterPublish))
}

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
	}
}

// Sales' transaction for o-1 runs long: it has written its rows but not committed, while o-2 is placed, committed,
// announced and charged. Then o-1 commits. Billing must hear of o-1 too. (A relay that remembers "the last id I
// published" has moved past o-1's row before o-1 committed, and never looks back.)
func TestLateCommitIsNotSkipped(t *testing.T) {
	w := newWorld(t)
	sales := w.startSales("sales")
	held, release := make(chan struct{}), make(chan struct{})
	var releaseOnce sync.Once
	letGo := func() { releaseOnce.Do(func() { close(release) }) }
	defer letGo()
	sales.HoldBeforeCommit = func(orderID string) {
		if orderID != "o-1" {
			return
		}
		w.env.Log(sales.proc.Name, "o-1's transaction is held open just before its commit (injected)")
		close(held)
		<-release
	}
	pending := w.placeOrder(context.Background(), sales, "o-1")
	select {
	case <-held:
	case <-time.After(harness.Patience):
		t.Fatalf("Sales never got to commit o-1: %v", sales.proc.Err())
	}
	w.mustPlace(context.Background(), sales, "o-2")
	if !w.env.Eventually(func() bool { return contains(w.chargedOrders(), "o-2") }) {
		w.judge("o-2 was placed while o-1's transaction was still open")
	}
	w.env.Log("test", "o-1's transaction may commit now")
	letGo()
	if status := <-pending; status != http.StatusCreated {
		t.Fatalf("placing o-1 answered %d %s", status, http.StatusText(status))
	}
	w.env.SettleFor(relayQuiet, func() bool { return len(w.chargedOrders()) >= 2 }, w.queue)
	w.judge("o-1's transaction wrote its rows before o-2's but committed after o-2 was charged")
}

// world is one test's shop: Billing running, Sales' processes, and an in-memory span recorder.
type world struct {
	env             *harness.Env
	exchange, queue string
	tracer          *sdktrace.TracerProvider
	spans           *tracetest.SpanRecorder
}

// salesProc is one running Sales: its process and its service.
type salesProc struct {
	*Sales
	proc *harness.Process
}

func newWorld(t *testing.T) *world {
	env := harness.New(t)
	env.Exec(Schema)
	env.Exec(BillingSchema)
	spans := tracetest.NewSpanRecorder()
	w := &world{env: env, exchange: env.Name("sales"), queue: env.Name("billing"), spans: spans,
		tracer: sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))}
	t.Cleanup(func() { _ = w.tracer.Shutdown(context.Background()) })
	w.startBilling()
	return w
}

// startBilling runs Billing as its own process and waits until it consumes.
func (w *world) startBilling() {
	proc := w.env.Process("billing")
	billing := &Billing{DB: proc.Pool(), Tracer: w.tracer.Tracer("billing"), Propagator: propagation.TraceContext{},
		Logf: func(format string, args ...any) { w.env.Log(proc.Name, format, args...) }}
	conn := proc.MustDial()
	proc.Go(func(ctx context.Context) error { return billing.Consume(ctx, conn, w.exchange, w.queue) })
	if !w.env.Eventually(func() bool { _, consumers, err := w.env.QueueDepth(w.queue); return err == nil && consumers > 0 }) {
		w.env.T.Fatalf("Billing did not start consuming: %v", proc.Err())
	}
}

// startSales runs a Sales process (a restart when one ran before) with its background loop, Run.
func (w *world) startSales(name string) *salesProc {
	proc := w.env.Process(name)
	s := &salesProc{proc: proc, Sales: &Sales{DB: proc.Pool(), Broker: proc.MustDial(), Exchange: w.exchange,
		Tracer: w.tracer.Tracer("sales"), Propagator: propagation.TraceContext{}, Points: proc.Points}}
	proc.Go(s.Run)
	return s
}

// placeOrder is the customer clicking "buy": POST /orders, handled inside Sales' process (if Sales dies, so does the
// request). ctx carries the customer's trace, if any. The HTTP status arrives on the channel unless Sales died.
func (w *world) placeOrder(ctx context.Context, s *salesProc, orderID string) <-chan int {
	body, _ := json.Marshal(shop.PlaceOrder{OrderID: orderID, Customer: "ann", Cents: 4200})
	req := httptest.NewRequest(http.MethodPost, "/orders", bytes.NewReader(body))
	propagation.TraceContext{}.Inject(ctx, propagation.HeaderCarrier(req.Header))
	status := make(chan int, 1)
	w.env.Log("customer", "POST /orders %s", orderID)
	s.proc.Go(func(procCtx context.Context) error {
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req.WithContext(procCtx))
		w.env.Log("customer", "POST /orders %s answered %d %s", orderID, rec.Code, http.StatusText(rec.Code))
		status <- rec.Code
		return nil
	})
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
	case <-time.After(harness.Patience):
		w.env.T.Fatalf("placing %s got no answer within %v", orderID, harness.Patience)
	}
}

// waitCrash waits until Sales has died at its armed crash point.
func (w *world) waitCrash(s *salesProc) {
	w.env.T.Helper()
	select {
	case <-s.proc.Points.Crashed():
	case <-time.After(harness.Patience):
		w.env.T.Fatalf("Sales never reached its crash point: %v", s.proc.Err())
	}
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

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
