// Do not edit: this test shows the failure.

package poison

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"msglabs/shared/fault"
	"msglabs/shared/harness"
	"msglabs/shared/shop"
	"msglabs/shared/story"
)

// Billing runs in OS processes of its own (harness.Spawn), so a crash really loses what it held. The payment gateway
// stays in the test: Billing asks it through a call to the test ("charge").
func TestMain(m *testing.M) { harness.Main(m, harness.Roles{"billing": runBilling}) }

// runBilling runs one Billing instance in its own process.
func runBilling(ctx context.Context, s *harness.Service) error {
	b := &Billing{DB: s.Pool(), Gateway: remoteGateway{s}, Queue: s.Arg("queue"), ErrorQueue: s.Arg("error-queue")}
	return b.Consume(ctx, s.MustDial())
}

// remoteGateway is the test's gateway, seen from a Billing process.
type remoteGateway struct{ s *harness.Service }

func (g remoteGateway) Charge(_ context.Context, orderID string, cents int) error {
	if g.s.Call("charge", fmt.Sprintf("%s %d", orderID, cents)) != answerCharged {
		return fmt.Errorf("charge %s: %w", orderID, ErrGatewayDown)
	}
	return nil
}

var charged = story.Expect{Item: "order", From: "sent to Billing", Done: "charged"}

const (
	// orderCents is what every good order in these tests costs.
	orderCents = 1000
	// settleBound caps how long a test waits for Billing to be done with what it was sent.
	settleBound = 3 * time.Second
	// confirmLag delays what the broker sends Billing in TestMalformedOrderIsParkedAtOnce, confirms included, so that
	// an ack sent before the confirm of the parked copy shows on the timeline, every time.
	confirmLag = 20 * time.Millisecond
	// replayLoop is how many messages handed to replays mean a replay goes round the error queue in circles: these
	// tests never park more than three.
	replayLoop = 50
	// requeueBound caps the wait for the broker to put back what a dead replay had taken (it does so at once).
	requeueBound = 2 * time.Second
	// traceHeader is a header Sales puts on every BillOrder: a parked copy, and a replayed one, must keep it.
	traceHeader = "traceparent"
)

// A BillOrder that cannot be decoded is first in Billing's queue, three good orders wait behind it. The bad one must
// go to the error queue after one try, with its diagnosis, and the good ones be charged, o-2 despite the gateway
// failing once on it (a passing failure: it deserves its delayed retry).
func TestMalformedOrderIsParkedAtOnce(t *testing.T) {
	w := newWorld(harness.New(t))
	w.gw.failNext("o-2", 1)
	w.startBilling("billing").Slow(fault.Down, confirmLag)

	poisonID := w.env.NextMessageID()
	w.sales.Raw("", w.queue, amqp.Publishing{
		MessageId:    poisonID,
		Type:         "BillOrder",
		ContentType:  shop.ContentType,
		DeliveryMode: amqp.Persistent,
		Headers:      amqp.Table{traceHeader: trace(poisonID)},
		Body:         []byte(`{"order_id":"o-0","amount_cents":"forty-two"}`), // a string where a number belongs
	})
	good := []string{"o-1", "o-2", "o-3"}
	for _, id := range good {
		w.send(shop.BillOrder{OrderID: id, Cents: orderCents})
	}
	done := func() bool { return len(w.gw.charges()) >= len(good) && w.parked() >= 1 }
	hopeless := func() bool { return len(w.tries(poisonID)) > 1 || w.ackedEarly() != "" || w.parked() > 1 }
	w.env.EventuallyWithin(settleBound, func() bool { return done() || hopeless() })
	w.triedOnce(poisonID, "a BillOrder for o-0 that cannot be decoded")
	w.parkedBeforeAck()
	w.env.Settle(done, w.queue)
	var details []string
	if n := w.parked(); n > 1 {
		details = append(details, fmt.Sprintf("%d messages wait in the error queue, not just %s: a good order was parked "+
			"after a passing gateway failure (o-2 fails once) instead of being retried later", n, poisonID))
	}
	w.env.ExactlyOnce(charged, good, w.gw.charges(), details...)
	w.requireParked(poisonID, "a BillOrder for o-0 that cannot be decoded")
}

// A BillOrder for a negative amount can never be charged. Billing must not drop it: it belongs in the error queue,
// with its diagnosis, so someone can look at it and, once it is corrected upstream, replay it. Billing dies the
// instant it hands the order over to the error queue (the copy never arrives): the order must still get there.
func TestRefusedOrderLeavesATrace(t *testing.T) {
	w := newWorld(harness.New(t))
	refusedID := w.env.NextMessageID()
	first := w.startBilling("billing")
	first.CrashOn(fault.BeforePublishOf(fault.Msg{ID: refusedID, Key: w.errorQueue}))

	w.sendWithID(refusedID, shop.BillOrder{OrderID: "o-9", Cents: -500})
	w.send(shop.BillOrder{OrderID: "o-1", Cents: orderCents})
	done := func() bool { return len(w.gw.charges()) >= 1 && w.parked() >= 1 }
	w.env.Settle(func() bool { return done() || first.Dead() }, w.queue)
	if first.Dead() {
		w.env.Log("test", "Billing died as it handed %s over to the error queue: the broker gives it to the restarted Billing",
			refusedID)
		if !w.env.WaitConsuming(w.queue, 0) {
			t.Fatalf("the broker still counts the dead Billing as a consumer of %q", w.env.Short(w.queue))
		}
		w.startBilling("billing")
		w.env.Settle(done, w.queue)
	}
	w.env.ExactlyOnce(charged, []string{"o-1"}, w.gw.charges())
	w.requireParked(refusedID, "a BillOrder for o-9 of -500 cents")
	w.triedOnce(refusedID, "a BillOrder for o-9 of -500 cents")
}

// o-1 failed while the payment gateway was down, and waits in the error queue (parked as Billing parks it). The
// gateway is back; an operator replays it. The first replay dies as it sends o-1 back, the second right after it sent
// it (before it could ack it off the error queue); the operator replays a third time. The customer must be charged
// once.
func TestReplayAfterGatewayOutageChargesOnce(t *testing.T) {
	w := newWorld(harness.New(t))
	w.startBilling("billing")
	stuckID := w.env.NextMessageID()
	w.parkAsBillingDoes(stuckID, shop.BillOrder{OrderID: "o-1", Cents: orderCents})

	w.env.Log("test", "the payment gateway is back; the operator replays %s", stuckID)
	w.replayCrashing(stuckID, fault.BeforePublishOf(fault.Msg{Type: "BillOrder", Key: w.queue}), "as it sent it back")
	w.replayCrashing(stuckID, fault.BeforeAckOf(stuckID), "right after it sent it back, before it acked it off the error queue")
	if moved, err := w.replay(stuckID); err != nil || moved != 1 {
		w.env.Fail(story.Stalled, "the third replay of %s moved %d message(s) back to %q: %v", stuckID, moved,
			w.env.Short(w.queue), err)
	}
	w.env.Settle(func() bool {
		return len(w.gw.charges()) >= 1 && w.parked() == 0 && w.env.Idle(w.queue)
	}, w.queue)
	w.env.ExactlyOnce(charged.Because("%s was replayed three times, the second replay dying after it had sent it back, "+
		"before it acked it off the error queue", stuckID), []string{"o-1"}, w.gw.charges())
	if n := w.parked(); n != 0 {
		w.env.Fail(story.Stalled, "%d message(s) still wait in the error queue after %s was replayed", n, stuckID)
	}
}

// Three orders wait in the error queue. Billing is not running. The operator replays the second one only: it must go
// back to Billing's queue as it was before Billing parked it (its id, its own headers, none of what Billing added),
// acked off the error queue only once the broker confirmed it there; the other two stay in the error queue, untouched.
func TestReplayMovesTheChosenMessageAsItWas(t *testing.T) {
	w := newWorld(harness.New(t))
	ids := []string{w.env.NextMessageID(), w.env.NextMessageID(), w.env.NextMessageID()}
	for i, id := range ids {
		w.parkAsBillingDoes(id, shop.BillOrder{OrderID: shop.OrderID(i + 1), Cents: orderCents})
	}
	chosen := ids[1]
	moved, err := w.replayWith([]string{chosen}, func(p *harness.Process) { p.Slow(fault.Down, confirmLag) })
	if err != nil || moved != 1 {
		w.env.Fail(story.Stalled, "the replay of %s alone moved %d message(s) back to %q: %v", chosen, moved,
			w.env.Short(w.queue), err)
	}
	w.replayAckedAfterConfirm(chosen)
	back := w.look(w.queue)
	if len(back) != 1 {
		w.env.Fail(story.Lost, "after the replay of %s alone, Billing's queue %q holds %d message(s), not 1", chosen,
			w.env.Short(w.queue), len(back))
	}
	w.replayedAsItWas(back[0], chosen, shop.OrderID(2))
	left := w.look(w.errorQueue)
	if len(left) != 2 || left[0].MessageId != ids[0] || left[1].MessageId != ids[2] {
		w.env.Fail(story.Lost, "after the replay of %s alone, the error queue holds %v, not %s and %s in their order",
			chosen, messageIDs(left), ids[0], ids[2])
	}
	for _, d := range left {
		w.checkDiagnosis(d, 1+DelayedRetries)
	}
}

// world is one test's shop around Billing: its queues, the gateway, Sales.
type world struct {
	env               *harness.Env
	queue, errorQueue string
	gw                *gateway
	sales             *harness.Publisher
}

func newWorld(env *harness.Env) *world {
	env.Exec(Schema)
	w := &world{env: env, queue: env.Name("billing"), errorQueue: env.Name("billing.error"), gw: newGateway(env)}
	ch, err := env.Process("ops").MustDial().Channel()
	if err != nil {
		env.T.Fatalf("open channel: %v", err)
	}
	defer ch.Close()
	if err := DeclareQueues(ch, w.queue, w.errorQueue); err != nil {
		env.T.Fatal(err)
	}
	w.sales = env.Publisher("sales")
	return w
}

// startBilling starts a Billing instance (a process of its own) and waits until it consumes.
func (w *world) startBilling(name string) *harness.Process {
	w.env.T.Helper()
	proc := w.env.Spawn(name, harness.Args{"queue": w.queue, "error-queue": w.errorQueue})
	proc.On("charge", w.gw.charge)
	if !w.env.WaitConsuming(w.queue, 1) {
		w.env.T.Fatalf("Billing did not start consuming %q: %v", w.env.Short(w.queue), proc.Err())
	}
	return proc
}

// trace is the trace header Sales gives a message.
func trace(messageID string) string { return "00-trace-of-" + messageID + "-01" }

// send publishes a BillOrder as Sales does, with a fresh message id.
func (w *world) send(o shop.BillOrder) string {
	w.env.T.Helper()
	id := w.env.NextMessageID()
	w.sendWithID(id, o)
	return id
}

// sendWithID publishes a BillOrder as Sales does: persistent, confirmed, with a trace header.
func (w *world) sendWithID(id string, o shop.BillOrder) {
	w.env.T.Helper()
	w.sales.Raw("", w.queue, w.publishing(id, o))
}

func (w *world) publishing(id string, o shop.BillOrder) amqp.Publishing {
	w.env.T.Helper()
	body, err := shop.Encode(o)
	if err != nil {
		w.env.T.Fatal(err)
	}
	return amqp.Publishing{
		MessageId:    id,
		Type:         o.MessageType(),
		ContentType:  shop.ContentType,
		DeliveryMode: amqp.Persistent,
		Headers:      amqp.Table{traceHeader: trace(id)},
		Body:         body,
	}
}

// parkAsBillingDoes puts a BillOrder into the error queue the way Billing parks one after its last delayed retry:
// with its own headers, lab 8's retry count and the diagnosis.
func (w *world) parkAsBillingDoes(id string, o shop.BillOrder) {
	w.env.T.Helper()
	msg := w.publishing(id, o)
	msg.Headers[RetriesHeader] = int64(DelayedRetries)
	msg.Headers[HeaderOriginalQueue] = w.queue
	msg.Headers[HeaderError] = "charge order " + o.OrderID + ": " + ErrGatewayDown.Error()
	msg.Headers[HeaderStack] = "poison.(*Billing).settle (billing.go)"
	msg.Headers[HeaderAttempts] = int32(1 + DelayedRetries)
	msg.Headers[HeaderFailedAt] = time.Now().UTC().Format(time.RFC3339)
	w.env.Publisher("earlier").Raw("", w.errorQueue, msg)
}

// parked is how many messages wait in the error queue.
func (w *world) parked() int { return w.env.MustDepth(w.errorQueue) }

// billingEntries are the timeline entries of Billing's instances about a message, in order.
func (w *world) billingEntries(id string) []story.Entry {
	var out []story.Entry
	for _, e := range w.env.Timeline.Entries() {
		if e.Message == id && strings.HasPrefix(e.Actor, "billing") {
			out = append(out, e)
		}
	}
	return out
}

// tries are when the broker handed the message to Billing, not counting a redelivery after a crash (the same try
// again): the first time, and each time a retry copy came back.
func (w *world) tries(id string) []time.Duration {
	var out []time.Duration
	for _, e := range w.billingEntries(id) {
		if e.Kind == story.Deliver && !e.Redelivered {
			out = append(out, e.At)
		}
	}
	return out
}

// triedOnce fails the test if a message that can never succeed was tried more than once.
func (w *world) triedOnce(id, what string) {
	w.env.T.Helper()
	tries := w.tries(id)
	if len(tries) <= 1 {
		return
	}
	w.env.FailWith(story.Stalled, []string{
		"It fails the same way after every wait, however often it is tried: the retries only delay the moment someone sees it.",
	}, "message %s (%s) went round the retry schedule: Billing tried it %d times over %v instead of parking it at once",
		id, what, len(tries), (tries[len(tries)-1] - tries[0]).Round(time.Millisecond))
}

// ackedEarly says how a Billing instance acked a delivery before the broker had confirmed the copy it published of
// it (to the error queue or a delay queue), or "".
func (w *world) ackedEarly() string {
	type try struct{ published, confirmed, settled bool }
	tries := map[string]*try{} // per Billing instance and message: the try in progress
	for _, e := range w.env.Timeline.Entries() {
		if e.Message == "" || !strings.HasPrefix(e.Actor, "billing") {
			continue
		}
		key := e.Actor + " " + e.Message
		t := tries[key]
		switch {
		case e.Kind == story.Deliver:
			tries[key] = &try{}
		case t == nil:
		case e.Kind == story.Publish && t.settled:
			return fmt.Sprintf("%s acked %s and only then published its copy to %q (at +%.3fs): had it died in "+
				"between, the message would be in no queue at all", e.Actor, e.Message, e.Peer, e.At.Seconds())
		case e.Kind == story.Publish:
			t.published = true
		case e.Kind == story.Confirm && t.published:
			t.confirmed = true
		case e.Kind == story.Ack && t.published && !t.confirmed:
			return fmt.Sprintf("%s acked %s (at +%.3fs) before the broker had confirmed its copy: a copy the broker "+
				"refuses or never receives (a full queue, a dropped connection) is then gone, and the message with it; "+
				"wait for the confirm, then ack", e.Actor, e.Message, e.At.Seconds())
		case e.Kind == story.Ack:
			t.settled = true
		}
	}
	return ""
}

// parkedBeforeAck fails the test if Billing acked a delivery before the broker had its copy.
func (w *world) parkedBeforeAck() {
	w.env.T.Helper()
	if why := w.ackedEarly(); why != "" {
		w.env.Fail(story.Lost, "%s", why)
	}
}

// look returns the messages waiting in a queue, in order, and leaves them there.
func (w *world) look(queue string) []amqp.Delivery {
	w.env.T.Helper()
	ch, err := w.env.Process("operator").MustDial().Channel()
	if err != nil {
		w.env.T.Fatalf("open channel: %v", err)
	}
	defer ch.Close() // puts back everything we looked at
	var out []amqp.Delivery
	for {
		d, ok, err := ch.Get(queue, false) // autoAck=false: only looking
		if err != nil {
			w.env.T.Fatalf("look into %q: %v", w.env.Short(queue), err)
		}
		if !ok {
			return out
		}
		out = append(out, d)
	}
}

func messageIDs(ds []amqp.Delivery) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.MessageId
	}
	return out
}

// requireParked fails the test unless the message with id waits in the error queue, unchanged, tried once, with its
// diagnosis.
func (w *world) requireParked(id, what string) {
	w.env.T.Helper()
	for _, d := range w.look(w.errorQueue) {
		if d.MessageId == id {
			w.checkDiagnosis(d, 1)
			return
		}
	}
	w.env.Fail(story.Lost, "message %s (%s) vanished: it is in neither %q nor the error queue %q, so nobody can see "+
		"why it failed or replay it", id, what, w.env.Short(w.queue), w.env.Short(w.errorQueue))
}

// checkDiagnosis fails the test unless a parked message is the message as Sales sent it, its own headers kept, and
// says what went wrong, where, how often (attempts) and when.
func (w *world) checkDiagnosis(d amqp.Delivery, attempts int) {
	w.env.T.Helper()
	missing := func(h string) {
		w.env.Fail(story.Lost, "message %s reached the error queue without its diagnosis: header %q is missing or empty "+
			"(headers: %v)", d.MessageId, h, d.Headers)
	}
	for _, h := range []string{HeaderError, HeaderStack, HeaderFailedAt} {
		if s, _ := d.Headers[h].(string); s == "" {
			missing(h)
		}
	}
	if at, _ := d.Headers[HeaderFailedAt].(string); !isTime(at) {
		w.env.Fail(story.Lost, "message %s: header %q = %q is not an RFC 3339 time", d.MessageId, HeaderFailedAt, at)
	}
	if q, _ := d.Headers[HeaderOriginalQueue].(string); q != w.queue {
		w.env.Fail(story.Lost, "message %s: header %q = %q, want %q: a replay would not know where to send it",
			d.MessageId, HeaderOriginalQueue, q, w.env.Short(w.queue))
	}
	if n := headerInt(d.Headers[HeaderAttempts]); n != attempts {
		w.env.Fail(story.Lost, "message %s reached the error queue with %q = %v, not %d (headers: %v): the person "+
			"reading it cannot tell how often it was tried", d.MessageId, HeaderAttempts, d.Headers[HeaderAttempts],
			attempts, d.Headers)
	}
	if got, _ := d.Headers[traceHeader].(string); got != trace(d.MessageId) {
		w.env.Fail(story.Lost, "message %s reached the error queue without its own %q header (headers: %v): the "+
			"parked copy must be the message as Sales sent it, or a replay is a different message downstream",
			d.MessageId, traceHeader, d.Headers)
	}
	if d.Type != "BillOrder" || len(d.Body) == 0 {
		w.env.Fail(story.Lost, "message %s reached the error queue altered (type %q, %d-byte body): it can no longer be "+
			"replayed as it was", d.MessageId, d.Type, len(d.Body))
	}
}

func isTime(s string) bool {
	_, err := time.Parse(time.RFC3339, s)
	return err == nil
}

// headerInt reads an integer header whichever integer type the publisher chose; -1 when absent or not an integer.
func headerInt(v any) int {
	switch n := v.(type) {
	case int:
		return n
	case int8:
		return int(n)
	case int16:
		return int(n)
	case int32:
		return int(n)
	case int64:
		return int(n)
	case uint8:
		return int(n)
	case uint16:
		return int(n)
	case uint32:
		return int(n)
	}
	return -1
}

// replayedAsItWas fails the test unless a replayed message is the parked one as Sales sent it: the same id (or
// Billing's inbox charges it again), its own headers, and none of the headers Billing added while it retried and
// parked it (or the next failure is judged by the old one).
func (w *world) replayedAsItWas(d amqp.Delivery, id, orderID string) {
	w.env.T.Helper()
	var order shop.BillOrder
	if err := shop.Decode(d.Body, &order); err != nil || order.OrderID != orderID || d.Type != "BillOrder" {
		w.env.Fail(story.Lost, "the replay of %s sent back %q (type %q) instead of order %s", id, d.Body, d.Type, orderID)
	}
	if d.MessageId != id {
		w.env.Fail(story.Duplicate, "the replay of %s sent order %s back as a new message (id %q): if the replay "+
			"crashes after sending it and is run again, Billing's inbox sees two different messages and charges the "+
			"customer twice", id, orderID, d.MessageId)
	}
	if got, _ := d.Headers[traceHeader].(string); got != trace(id) {
		w.env.Fail(story.Lost, "the replay of %s dropped the message's own %q header (headers: %v): downstream it is "+
			"no longer the message Sales sent", id, traceHeader, d.Headers)
	}
	for _, h := range []string{RetriesHeader, HeaderError, HeaderStack, HeaderAttempts, HeaderFailedAt, HeaderOriginalQueue} {
		if _, ok := d.Headers[h]; ok {
			w.env.Fail(story.Lost, "the replay of %s sent it back still carrying %q = %v, which Billing wrote on it when "+
				"it gave up (headers: %v): should it fail once more, Billing counts its old retries and parks it at once, "+
				"with the old diagnosis; a replay is a fresh try", id, h, d.Headers[h], d.Headers)
		}
	}
}

// replayCrashing runs a replay of id that dies when its own traffic matches trigger.
func (w *world) replayCrashing(id string, trigger fault.Trigger, when string) {
	w.env.T.Helper()
	proc := w.env.Process("replay")
	proc.CrashOn(trigger)
	r := &Replayer{Broker: proc.MustDial(), ErrorQueue: w.errorQueue}
	proc.Go(func(ctx context.Context) error { _, err := r.Replay(ctx, []string{id}); return err })
	select {
	case <-proc.Crashed():
	case <-time.After(harness.Patience):
		w.env.Fail(story.Stalled, "the replay of %s never reached the moment it was to die (%s): %v", id, when, proc.Err())
	}
	if !w.env.EventuallyWithin(requeueBound, func() bool { return w.parked() == 1 }) {
		w.env.Fail(story.Lost, "the replay of %s died %s, and %s was no longer in the error queue (%d message(s) "+
			"there): had Billing not been running, it would be gone", id, when, id, w.parked())
	}
}

// replay runs a replay of id to the end and returns how many messages it moved.
func (w *world) replay(id string) (int, error) {
	return w.replayWith([]string{id}, nil)
}

// replayWith runs a replay of ids to the end, as a process prepared by prepare (before it connects), and returns how
// many messages it moved.
func (w *world) replayWith(ids []string, prepare func(*harness.Process)) (int, error) {
	w.env.T.Helper()
	proc := w.env.Process("replay")
	if prepare != nil {
		prepare(proc)
	}
	r := &Replayer{Broker: proc.MustDial(), ErrorQueue: w.errorQueue}
	type result struct {
		moved int
		err   error
	}
	done := make(chan result, 1)
	proc.Go(func(ctx context.Context) error {
		moved, err := r.Replay(ctx, ids)
		done <- result{moved, err}
		return err
	})
	var res *result
	finished := func() bool {
		select {
		case r := <-done:
			res = &r
		default:
		}
		return res != nil
	}
	w.env.Eventually(func() bool { return finished() || w.handedToReplay() > replayLoop })
	if res == nil {
		return 0, fmt.Errorf("the replay did not finish: the broker handed it the error queue's messages %d times, "+
			"and it is still going round them", w.handedToReplay())
	}
	return res.moved, res.err
}

// handedToReplay is how many times the broker handed a message to a replay.
func (w *world) handedToReplay() int {
	n := 0
	for _, e := range w.env.Timeline.Entries() {
		if e.Kind == story.Deliver && strings.HasPrefix(e.Actor, "replay") {
			n++
		}
	}
	return n
}

// replayAckedAfterConfirm fails the test if the replay acked the message off the error queue before the broker had
// confirmed it back in Billing's queue.
func (w *world) replayAckedAfterConfirm(id string) {
	w.env.T.Helper()
	published, confirmed := false, false
	for _, e := range w.env.Timeline.Entries() {
		if !strings.HasPrefix(e.Actor, "replay") {
			continue
		}
		switch {
		case e.Kind == story.Publish:
			published, confirmed = true, false
		case e.Kind == story.Confirm && published:
			confirmed = true
		case e.Kind == story.Ack && e.Message == id && !published:
			w.env.Fail(story.Lost, "the replay acked %s off the error queue (at +%.3fs) before it sent it back: had it "+
				"died in between, the message would be in no queue at all", id, e.At.Seconds())
		case e.Kind == story.Ack && e.Message == id && !confirmed:
			w.env.Fail(story.Lost, "the replay acked %s off the error queue (at +%.3fs) before the broker had confirmed "+
				"it back in Billing's queue: a copy the broker refuses or never receives is then gone", id, e.At.Seconds())
		}
	}
}

// The gateway's answers to Billing's "charge" calls.
const (
	answerCharged = "charged"
	answerDown    = "unavailable"
)

// gateway is the test's payment provider. It charges unless told to fail for an order. Safe for concurrent use.
type gateway struct {
	env *harness.Env

	mu       sync.Mutex
	failures map[string]int // order id → failures still to come; negative: until told otherwise
	done     []string       // order ids, one per successful charge
}

func newGateway(env *harness.Env) *gateway { return &gateway{env: env, failures: map[string]int{}} }

// failNext makes the next n charges of orderID fail as unavailable (n < 0: every charge, until called again).
func (g *gateway) failNext(orderID string, n int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.failures[orderID] = n
}

// charge answers Billing's call "<order id> <cents>".
func (g *gateway) charge(arg string) string {
	orderID, cents, _ := strings.Cut(arg, " ")
	g.mu.Lock()
	defer g.mu.Unlock()
	if n := g.failures[orderID]; n != 0 {
		if n > 0 {
			g.failures[orderID] = n - 1
		}
		g.env.Log("gateway", "unavailable: could not charge %s", orderID)
		return answerDown
	}
	g.done = append(g.done, orderID)
	g.env.Log("gateway", "charged %s %s cents", orderID, cents)
	return answerCharged
}

// charges lists the orders charged so far, once per charge.
func (g *gateway) charges() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.done...)
}
