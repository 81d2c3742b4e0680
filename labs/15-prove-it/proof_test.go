// Do not edit: this test shows the failure.

package proof

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"msglabs/shared/explore"
	"msglabs/shared/harness"
	"msglabs/shared/shop"
	"msglabs/shared/story"
)

// In the real run on PostgreSQL, Billing runs in OS processes of its own (harness.Spawn): a crash really loses its
// memory, and a restarted instance shares none with the one that died.
func TestMain(m *testing.M) { harness.Main(m, harness.Roles{"billing": runBilling}) }

// runBilling runs one Billing instance in its own process: inbox in the test's schema, ledger in its own, OrderBilled
// to the billed queue. The crash points are the steps' names (Points.At in postgres.go).
func runBilling(ctx context.Context, s *harness.Service) error {
	conn := s.MustDial()
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open channel: %w", err)
	}
	if err := ch.Confirm(false); err != nil { // noWait: false
		return fmt.Errorf("confirm mode: %w", err)
	}
	if err := DeclareQueue(ch, s.Arg("billed")); err != nil {
		return err
	}
	b := &Billing{
		Inbox:  &PGInbox{DB: s.Pool(), Points: s.Points},
		Ledger: &PGLedger{DB: s.Pool(), Schema: s.Arg("ledger"), Points: s.Points},
		Events: &AMQPEvents{Channel: ch, Queue: s.Arg("billed"), Points: s.Points},
		NewID:  uuid.NewString,
	}
	return Consume(ctx, conn, s.Arg("queue"), b, s.Points)
}

// A bill is one BillOrder message: it must be charged once and announced once, however often it is delivered.
type bill struct {
	id  string
	cmd shop.BillOrder
}

// The bills of this lab. m-2 is a second, different bill for the same order (the gift-wrap added after checkout).
var (
	m1 = bill{"m-1", shop.BillOrder{OrderID: "o-1", Cents: 4200}}
	m2 = bill{"m-2", shop.BillOrder{OrderID: "o-1", Cents: 300}}
	m3 = bill{"m-3", shop.BillOrder{OrderID: "o-2", Cents: 1000}}
)

func (b bill) String() string {
	return fmt.Sprintf("%s (BillOrder %s, %d cents)", b.id, b.cmd.OrderID, b.cmd.Cents)
}

// is reports whether a charge or an announcement of order with cents is this bill's (the bills of a world differ in
// order or amount).
func (b bill) is(orderID string, cents int) bool {
	return b.cmd.OrderID == orderID && b.cmd.Cents == cents
}

// A world is one bounded model: each delivery is a Billing instance handling one copy of a bill, all at once; an
// instance that crashes before its ack gets its copy again.
type world struct {
	name       string
	deliveries []bill
	maxCrashes int
}

// The worlds TestEveryInterleaving explores, every schedule of each.
var worlds = []world{
	{"m-1 delivered twice, to 2 Billing instances at once, up to 1 crash", []bill{m1, m1}, 1},
	{"m-1 and m-2 (two bills of order o-1) on 2 Billing instances at once, no crash", []bill{m1, m2}, 0},
}

// blockedLimit is how long a process may take between two steps before the explorer calls it blocked. A step takes
// microseconds; only a process that waits outside its steps (a lock) gets anywhere near it.
const blockedLimit = 2 * time.Second

// Every interleaving of the deliveries' steps, with a crash before any step, must keep every invariant: the safety
// ones after every single step, "no lost messages" once every copy was acked.
func TestEveryInterleaving(t *testing.T) {
	env := harness.New(t)
	for _, w := range worlds {
		res, err := explore.Explore(explore.Options{MaxCrashes: w.maxCrashes, StepTimeout: blockedLimit}, w.model)
		judgeExploration(env, w, res, err)
	}
}

// judgeExploration fails the test with the failing schedule, or says what was explored.
func judgeExploration(env *harness.Env, w world, res explore.Result, err error) {
	env.T.Helper()
	if errors.Is(err, explore.ErrBlocked) {
		env.Fail(story.Stalled, "a Billing instance stopped outside its steps, waiting for something only another "+
			"instance could give it (a lock in memory?): %v. In production every instance is its own process, and a "+
			"lock in one holds no other back (%s)", err, w.name)
	}
	if err != nil {
		env.T.Fatalf("the model itself is broken (not a lab failure): %v", err)
	}
	env.T.Logf("%s: %s", w.name, res.Summary())
	env.Log("explorer", "%s: %s", w.name, res.Summary())
	f := res.Failure
	if f == nil {
		return
	}
	v := f.First()
	env.FailWith(v.Marker, append([]string{fmt.Sprintf("the failing schedule (#%d of %s):", f.Schedule, w.name)}, f.Lines()...),
		"%v: invariant %q broken in schedule %d, %s (%s)", v.Err, v.Invariant, f.Schedule, v.When(), res.Summary())
}

// model is one fresh copy of the world for one schedule: the partitions in memory, one process per delivery.
func (w world) model() explore.Model {
	parts := NewPartitions()
	var procs []explore.Process
	for i, b := range w.deliveries {
		procs = append(procs, explore.Process{Name: fmt.Sprintf("billing-%d", i+1), Run: deliver(parts, b)})
	}
	return explore.Model{Processes: procs, Invariants: invariants(parts, distinct(w.deliveries))}
}

// deliver is one Billing instance handling one copy of b, then acking it.
func deliver(parts *Partitions, b bill) func(p *explore.Proc) {
	return func(p *explore.Proc) {
		p.Note("received %s", b)
		if err := parts.Billing(p).Handle(context.Background(), b.id, b.cmd); err != nil {
			panic(fmt.Sprintf("Handle returned an error, which the in-memory partitions never cause: %v", err))
		}
		p.Step(StepAck)
	}
}

// invariants are the four the literature names, and one more about ids; all but "no lost messages" are safety
// properties, checked after every step.
func invariants(parts *Partitions, bills []bill) []explore.Invariant {
	return []explore.Invariant{
		{Name: "no duplicated processing", Marker: story.Duplicate, Check: func() error { return noDuplicatedProcessing(parts, bills) }},
		{Name: "no ghost messages", Marker: story.Ghost, Check: func() error { return noGhostMessages(parts) }},
		{Name: "consistent output", Marker: story.Duplicate, Check: func() error { return consistentOutput(parts, bills) }},
		{Name: "unique message ids", Marker: story.Crosstalk, Check: func() error { return uniqueMessageIDs(parts, bills) }},
		{Name: "no lost messages", Marker: story.Lost, AtEnd: true, Check: func() error { return noLostMessages(parts, bills) }},
	}
}

// noDuplicatedProcessing: one bill, at most one charge, however many copies and retries, at every moment.
func noDuplicatedProcessing(parts *Partitions, bills []bill) error {
	for _, b := range bills {
		var ids []string
		for _, c := range parts.Ledger() {
			if b.is(c.OrderID, c.Cents) {
				ids = append(ids, c.ID)
			}
		}
		if len(ids) > 1 {
			return fmt.Errorf("order %s was charged %d times (charges %s) for one message %s",
				b.cmd.OrderID, len(ids), strings.Join(ids, ", "), b.id)
		}
	}
	return nil
}

// noGhostMessages: every OrderBilled that went out announces a charge that is in the ledger, now.
func noGhostMessages(parts *Partitions) error {
	for _, p := range parts.Published() {
		found := slices.ContainsFunc(parts.Ledger(), func(c Charge) bool {
			return c.BilledID == p.MessageID && c.OrderID == p.Event.OrderID && c.Cents == p.Event.Cents
		})
		if !found {
			return fmt.Errorf("OrderBilled %s announces a charge of order %s (%d cents) that is not in the ledger: "+
				"Shipping may ship an order nobody paid for", p.MessageID, p.Event.OrderID, p.Event.Cents)
		}
	}
	return nil
}

// consistentOutput: every copy of a bill's OrderBilled carries one message id and one content, so that downstream
// deduplication by message id sees one event.
func consistentOutput(parts *Partitions, bills []bill) error {
	for _, b := range bills {
		var ids []string
		for _, p := range parts.Published() {
			if b.is(p.Event.OrderID, p.Event.Cents) && !slices.Contains(ids, p.MessageID) {
				ids = append(ids, p.MessageID)
			}
		}
		if len(ids) > 1 {
			sort.Strings(ids)
			return fmt.Errorf("OrderBilled for %s went out under %d different message ids (%s): Shipping cannot tell "+
				"they announce one charge", b, len(ids), strings.Join(ids, ", "))
		}
	}
	return nil
}

// uniqueMessageIDs: a message id names one message. An OrderBilled never reuses the id of a BillOrder, and one id
// never announces two different charges.
func uniqueMessageIDs(parts *Partitions, bills []bill) error {
	contents := map[string]shop.OrderBilled{}
	for _, p := range parts.Published() {
		for _, b := range bills {
			if p.MessageID == b.id {
				return fmt.Errorf("OrderBilled for order %s went out as message %s, the id of BillOrder %s: anything "+
					"that tells messages apart by id (an inbox, a trace, an audit log) takes one for the other",
					p.Event.OrderID, p.MessageID, b.id)
			}
		}
		if seen, ok := contents[p.MessageID]; ok && seen != p.Event {
			return fmt.Errorf("message %s went out as OrderBilled %s %d cents and as OrderBilled %s %d cents: one id, "+
				"two messages", p.MessageID, seen.OrderID, seen.Cents, p.Event.OrderID, p.Event.Cents)
		}
		contents[p.MessageID] = p.Event
	}
	return nil
}

// noLostMessages: every copy was acked, so the broker forgot the bills; each must be charged and announced.
func noLostMessages(parts *Partitions, bills []bill) error {
	for _, b := range bills {
		if !slices.ContainsFunc(parts.Ledger(), func(c Charge) bool { return b.is(c.OrderID, c.Cents) }) {
			return fmt.Errorf("%s was acked but never charged", b)
		}
		if !slices.ContainsFunc(parts.Published(), func(p Publication) bool { return b.is(p.Event.OrderID, p.Event.Cents) }) {
			return fmt.Errorf("%s was charged but no OrderBilled went out: Shipping never hears of it", b)
		}
	}
	return nil
}

// distinct returns the bills without repeats, in order.
func distinct(bills []bill) []bill {
	var out []bill
	for _, b := range bills {
		if !slices.Contains(out, b) {
			out = append(out, b)
		}
	}
	return out
}

// The same algorithm for real: inbox and ledger in two PostgreSQL schemas, m-1 sent twice and m-2 (a second bill of
// o-1) once through RabbitMQ, and Billing crashing before it records m-1 in its inbox (a schedule the explorer
// covers). A restarted Billing, a new process, handles the copies. Each bill must be charged once and announced once,
// under an id of its own.
func TestForRealOnPostgres(t *testing.T) {
	run := newRealRun(harness.New(t))
	first := run.startBilling("billing")
	first.Points.Arm(StepRecordInbox)
	run.send(m1, m1, m2)
	select {
	case <-first.Crashed():
	case <-time.After(harness.Patience):
		t.Fatalf("billing never reached %q: %v\n%s", StepRecordInbox, first.Err(), run.env.Timeline)
	}
	run.startBilling("billing")
	run.judge([]bill{m1, m2}, fmt.Sprintf("m-1 was sent twice and m-2 once; billing crashed before %q and billing#2 "+
		"handled the copies", StepRecordInbox))
}

// realRun is one run on PostgreSQL and RabbitMQ: the inbox in the test's schema, the ledger in a schema of its own,
// the BillOrder queue and the queue OrderBilled goes to.
type realRun struct {
	env           *harness.Env
	queue, billed string
	ledger        string
	sent          []string // message ids sent, in order
}

func newRealRun(env *harness.Env) *realRun {
	env.Exec(InboxSchema)
	ledger := env.ExtraSchema("ledger")
	env.Exec(LedgerSchema(ledger))
	return &realRun{env: env, queue: env.Name("billing"), billed: env.Name("billed"), ledger: ledger}
}

// startBilling starts a Billing instance as a process of its own and waits until it consumes the queue.
func (r *realRun) startBilling(name string) *harness.Process {
	r.env.T.Helper()
	proc := r.env.SpawnRole(name, "billing", harness.Args{"queue": r.queue, "billed": r.billed, "ledger": r.ledger})
	if !r.env.Eventually(func() bool { _, consumers, err := r.env.QueueDepth(r.queue); return err == nil && consumers > 0 }) {
		r.env.T.Fatalf("%s did not start consuming %q: %v", proc.Name, r.env.Short(r.queue), proc.Err())
	}
	return proc
}

// send publishes the bills as Sales would (a repeat is the same message again: at-least-once delivery).
func (r *realRun) send(bills ...bill) {
	sales := r.env.Publisher("sales")
	for _, b := range bills {
		sales.SendWithID(b.id, "", r.queue, b.cmd)
		r.sent = append(r.sent, b.id)
	}
}

// judge waits until every bill was handled and acked, then fails the test unless each was charged once and announced
// once, under an id of its own.
func (r *realRun) judge(bills []bill, what string) {
	env := r.env
	env.T.Helper()
	recorded := func() bool {
		return env.Int(`SELECT count(*) FROM inbox`) == len(distinct(bills))
	}
	env.Settle(func() bool { return recorded() && env.Idle(r.queue) }, r.queue)

	table := pgx.Identifier{r.ledger, "charges"}.Sanitize()
	var want, got []string
	for _, b := range bills {
		want = append(want, b.String())
	}
	rows := env.Strings(`SELECT order_id || ' ' || cents || ' ' || billed_id FROM ` + table + ` ORDER BY id`)
	stored := map[string]string{} // billed id → the bill it announces
	for _, row := range rows {
		var order, billedID string
		var cents int
		_, _ = fmt.Sscanf(row, "%s %d %s", &order, &cents, &billedID)
		label := fmt.Sprintf("a charge of %s for %d cents", order, cents)
		if i := slices.IndexFunc(bills, func(b bill) bool { return b.is(order, cents) }); i >= 0 {
			label = bills[i].String()
		}
		got = append(got, label)
		stored[billedID] = label
	}
	env.ExactlyOnce(story.Expect{Item: "bill", From: "sent", Done: "charged"}.Because("%s", what), want, got)

	announced := r.receiveAll()
	for _, b := range bills {
		var ids []string
		for _, a := range announced {
			if b.is(a.event.OrderID, a.event.Cents) && !slices.Contains(ids, a.id) {
				ids = append(ids, a.id)
			}
		}
		switch {
		case len(ids) == 0:
			env.Fail(story.Lost, "%s was charged but no OrderBilled for it reached %q: Shipping never hears of it; %s",
				b, env.Short(r.billed), what)
		case len(ids) > 1:
			sort.Strings(ids)
			env.Fail(story.Duplicate, "OrderBilled for %s went out under %d different message ids (%s): Shipping "+
				"cannot tell they announce one charge; %s", b, len(ids), strings.Join(ids, ", "), what)
		case slices.Contains(r.sent, ids[0]):
			env.Fail(story.Crosstalk, "OrderBilled for %s went out as message %s, the id of a BillOrder: anything that "+
				"tells messages apart by id takes one for the other; %s", b, ids[0], what)
		case stored[ids[0]] != b.String():
			env.Fail(story.Ghost, "OrderBilled %s announces %s, and the ledger holds no charge announced under that id; %s",
				ids[0], b, what)
		}
	}
	env.T.Logf("each of %d bill(s) charged once and announced under one id of its own (%d OrderBilled received)",
		len(bills), len(announced))
}

// announcement is one OrderBilled that reached the billed queue.
type announcement struct {
	id    string
	event shop.OrderBilled
}

// receiveAll takes every message waiting in the billed queue (as Shipping would receive them).
func (r *realRun) receiveAll() []announcement {
	env := r.env
	env.T.Helper()
	ch, err := env.Process("shipping").MustDial().Channel()
	if err != nil {
		env.T.Fatalf("open channel: %v", err)
	}
	defer ch.Close()
	var out []announcement
	for {
		d, ok, err := ch.Get(r.billed, true) // autoAck: the test only reads
		if err != nil {
			env.T.Fatalf("get from %q: %v", env.Short(r.billed), err)
		}
		if !ok {
			return out
		}
		var ev shop.OrderBilled
		if err := shop.Decode(d.Body, &ev); err != nil {
			env.T.Fatalf("OrderBilled %s does not decode: %v", d.MessageId, err)
		}
		out = append(out, announcement{id: d.MessageId, event: ev})
	}
}
