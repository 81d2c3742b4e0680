// Do not edit: this test shows the failure.

package proof

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"msglabs/shared/explore"
	"msglabs/shared/harness"
	"msglabs/shared/shop"
	"msglabs/shared/story"
)

// The bound of the exploration: two copies of one BillOrder, handled by two Billing instances at once, and up to
// maxCrashes crashes per schedule (a crashed instance starts over: the broker delivers its copy again).
const (
	messageID  = "m-1"
	maxCrashes = 1
)

var billOrder = shop.BillOrder{OrderID: "o-1", Cents: 4200}

// Every interleaving of the two copies' steps, with a crash before any step, must keep every invariant.
func TestEveryInterleaving(t *testing.T) {
	env := harness.New(t)
	res, err := explore.Explore(explore.Options{MaxCrashes: maxCrashes}, billingModel)
	if err != nil {
		t.Fatalf("the model itself is broken (not a lab failure): %v", err)
	}
	scope := fmt.Sprintf("2 copies of %s handled by 2 Billing instances, up to %d crash(es) per schedule", messageID, maxCrashes)
	t.Logf("%s (%s)", res.Summary(), scope)
	env.Log("explorer", "%s (%s)", res.Summary(), scope)
	if f := res.Failure; f != nil {
		v := f.First()
		env.FailWith(v.Marker, append([]string{fmt.Sprintf("the failing schedule (#%d):", f.Schedule)}, f.Lines()...),
			"%v: invariant %q breaks in schedule %d (%s)", v.Err, v.Invariant, f.Schedule, res.Summary())
	}
}

// billingModel is one fresh world for one schedule: two Billing instances each handle a copy of the same BillOrder
// and ack it; the partitions are in memory.
func billingModel() explore.Model {
	w := NewPartitions()
	deliver := func(p *explore.Proc) {
		p.Note("received %s (BillOrder %s, %d cents)", messageID, billOrder.OrderID, billOrder.Cents)
		if err := w.Billing(p).Handle(context.Background(), messageID, billOrder); err != nil {
			panic(fmt.Sprintf("Handle returned an error, which the in-memory partitions never cause: %v", err))
		}
		p.Step(StepAck)
	}
	return explore.Model{
		Processes: []explore.Process{{Name: "billing-1", Run: deliver}, {Name: "billing-2", Run: deliver}},
		Invariants: []explore.Invariant{
			{Name: "no lost messages", Marker: story.Lost, Check: func() error { return noLostMessages(w) }},
			{Name: "no duplicated processing", Marker: story.Duplicate, Check: func() error { return noDuplicatedProcessing(w) }},
			{Name: "no ghost messages", Marker: story.Ghost, Check: func() error { return noGhostMessages(w) }},
			{Name: "consistent output", Marker: story.Duplicate, Check: func() error { return consistentOutput(w) }},
		},
	}
}

// noLostMessages: both copies were acked, so the broker forgot the message; its work must be done and announced.
func noLostMessages(w *Partitions) error {
	if len(w.Charges(billOrder.OrderID)) == 0 {
		return fmt.Errorf("order %s was never charged, yet %s was acked", billOrder.OrderID, messageID)
	}
	for _, p := range w.Published() {
		if p.Event.OrderID == billOrder.OrderID {
			return nil
		}
	}
	return fmt.Errorf("order %s was charged but no OrderBilled went out: Shipping never hears of it", billOrder.OrderID)
}

// noDuplicatedProcessing: one message, one charge, however many copies and retries.
func noDuplicatedProcessing(w *Partitions) error {
	charges := w.Charges(billOrder.OrderID)
	if len(charges) <= 1 {
		return nil
	}
	ids := make([]string, len(charges))
	for i, c := range charges {
		ids[i] = c.ID
	}
	return fmt.Errorf("order %s was charged %d times (charges %s) for one message %s",
		billOrder.OrderID, len(charges), strings.Join(ids, ", "), messageID)
}

// noGhostMessages: every OrderBilled that went out announces a charge that is in the ledger.
func noGhostMessages(w *Partitions) error {
	for _, p := range w.Published() {
		found := false
		for _, c := range w.Charges(p.Event.OrderID) {
			found = found || c.BilledID == p.MessageID
		}
		if !found {
			return fmt.Errorf("OrderBilled %s announces a charge of order %s that is not in the ledger", p.MessageID, p.Event.OrderID)
		}
	}
	return nil
}

// consistentOutput: every copy of the OrderBilled for the order carries the same message id and the same content,
// so downstream deduplication by message id sees one event.
func consistentOutput(w *Partitions) error {
	contents := map[string]shop.OrderBilled{}
	for _, p := range w.Published() {
		if p.Event.OrderID != billOrder.OrderID {
			continue
		}
		if seen, ok := contents[p.MessageID]; ok && seen != p.Event {
			return fmt.Errorf("OrderBilled %s went out twice with different contents (%+v, %+v)", p.MessageID, seen, p.Event)
		}
		contents[p.MessageID] = p.Event
	}
	if len(contents) > 1 {
		ids := make([]string, 0, len(contents))
		for id := range contents {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		return fmt.Errorf("OrderBilled for order %s went out under %d different message ids (%s): Shipping cannot tell "+
			"they announce one charge", billOrder.OrderID, len(ids), strings.Join(ids, ", "))
	}
	return nil
}

var charged = story.Expect{Item: "order", From: "to bill", Done: "charged"}

// The same algorithm for real: inbox and ledger in two PostgreSQL schemas, BillOrder sent twice through RabbitMQ, and
// Billing crashing before it records the message in its inbox (a schedule the explorer covers). A restarted Billing
// handles both copies. Order o-1 must be charged once and announced under one message id.
func TestForRealOnPostgres(t *testing.T) {
	env := harness.New(t)
	env.Exec(InboxSchema)
	ledger := env.ExtraSchema("ledger")
	env.Exec(LedgerSchema(ledger))
	queue, billed := env.Name("billing"), env.Name("billed")

	first := env.Process("billing")
	first.Points.Arm(StepRecordInbox)
	startBilling(env, first, queue, billed, ledger)
	sales := env.Publisher("sales")
	sales.SendWithID(messageID, "", queue, billOrder)
	sales.SendWithID(messageID, "", queue, billOrder) // the same message again: at-least-once delivery
	select {
	case <-first.Points.Crashed():
	case <-env.Context().Done():
		t.Fatalf("billing never reached %q: %v", StepRecordInbox, first.Err())
	}
	startBilling(env, env.Process("billing"), queue, billed, ledger)

	recorded := func() bool { return env.Int(`SELECT count(*) FROM inbox WHERE message_id = $1`, messageID) == 1 }
	env.Settle(func() bool { return recorded() && env.MustDepth(queue) == 0 && env.Unacked() == 0 }, queue)

	table := pgx.Identifier{ledger, "charges"}.Sanitize()
	env.ExactlyOnce(charged, []string{billOrder.OrderID}, env.Strings(`SELECT order_id FROM `+table),
		fmt.Sprintf("%s was sent twice; billing crashed before %q and billing#2 handled the copies", messageID, StepRecordInbox))
	announced := env.Strings(`SELECT billed_id FROM ` + table)
	ids := receiveAll(env, billed)
	switch distinct := uniq(ids); {
	case len(ids) == 0:
		env.Fail(story.Lost, "order %s was charged but no OrderBilled reached %q: Shipping never hears of it",
			billOrder.OrderID, env.Short(billed))
	case len(distinct) > 1:
		env.Fail(story.Duplicate, "OrderBilled for order %s went out under %d different message ids (%s): Shipping "+
			"cannot tell they announce one charge", billOrder.OrderID, len(distinct), strings.Join(distinct, ", "))
	case distinct[0] != announced[0]:
		env.Fail(story.Ghost, "OrderBilled %s announces a charge that is not in the ledger (the ledger's charge is "+
			"announced as %s)", distinct[0], announced[0])
	}
	t.Logf("order %s charged once; OrderBilled %s went out %d time(s), one message id", billOrder.OrderID, ids[0], len(ids))
}

// startBilling runs a Billing instance as proc: inbox in the test's schema, ledger in its own, and waits until it
// consumes queue.
func startBilling(env *harness.Env, proc *harness.Process, queue, billed, ledger string) {
	env.T.Helper()
	conn := proc.MustDial()
	ch, err := conn.Channel()
	if err != nil {
		env.T.Fatalf("open channel: %v", err)
	}
	if err := ch.Confirm(false); err != nil { // noWait: false
		env.T.Fatalf("confirm mode: %v", err)
	}
	if err := DeclareQueue(ch, billed); err != nil {
		env.T.Fatal(err)
	}
	b := &Billing{
		Inbox:  &PGInbox{DB: proc.Pool(), Points: proc.Points},
		Ledger: &PGLedger{DB: proc.Pool(), Schema: ledger, Points: proc.Points},
		Events: &AMQPEvents{Channel: ch, Queue: billed, Points: proc.Points},
		NewID:  uuid.NewString,
	}
	proc.Go(func(ctx context.Context) error { return Consume(ctx, conn, queue, b, proc.Points) })
	if !env.Eventually(func() bool { _, consumers, err := env.QueueDepth(queue); return err == nil && consumers > 0 }) {
		env.T.Fatalf("%s did not start consuming %q: %v", proc.Name, env.Short(queue), proc.Err())
	}
}

// receiveAll takes every message waiting in queue (as Shipping would receive them) and returns their message ids.
func receiveAll(env *harness.Env, queue string) []string {
	env.T.Helper()
	ch, err := env.Process("shipping").MustDial().Channel()
	if err != nil {
		env.T.Fatalf("open channel: %v", err)
	}
	defer ch.Close()
	var ids []string
	for {
		d, ok, err := ch.Get(queue, true) // autoAck: the test only reads
		if err != nil {
			env.T.Fatalf("get from %q: %v", env.Short(queue), err)
		}
		if !ok {
			return ids
		}
		ids = append(ids, d.MessageId)
	}
}

// uniq returns the distinct strings of s, sorted.
func uniq(s []string) []string {
	set := map[string]bool{}
	for _, x := range s {
		set[x] = true
	}
	out := make([]string, 0, len(set))
	for x := range set {
		out = append(out, x)
	}
	sort.Strings(out)
	return out
}
