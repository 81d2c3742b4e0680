// Do not edit: this test shows the failure.

package idempotent

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"msglabs/shared/fault"
	"msglabs/shared/harness"
	"msglabs/shared/shop"
	"msglabs/shared/story"
)

// charged judges the ledger by message: every OrderPlaced message that was sent is charged exactly once. Its items are
// "o-1 (message m-1)".
var charged = story.Expect{Item: "order", From: "sent", Done: "charged"}

// Billing runs in OS processes of its own (harness.Spawn): a crash really loses its memory, and two instances share
// none, as in production. The faults are read off the wire or sit in the database (fault.AfterCommitTo,
// fault.BeforeCommitTo, env.FailWrites, a line-up trigger), so they happen wherever Billing's code does its work.
func TestMain(m *testing.M) { harness.Main(m, harness.Roles{"billing": runBilling}) }

// runBilling runs one Billing instance in its own process.
func runBilling(ctx context.Context, s *harness.Service) error {
	b := &Billing{DB: s.Pool(), Logf: s.Logf}
	return b.Consume(ctx, s.MustDial(), s.Arg("exchange"), s.Arg("queue"))
}

// loopLimit is how many deliveries of one message mean it is going round in circles. A correct Billing needs two (the
// original and the duplicate), three if it retries a failed write once.
const loopLimit = 5

// Billing charges o-1 and dies the instant the charge has committed, before anything else it sends arrives (its ack
// too). The broker redelivers m-1 to the restarted Billing, a new process with no memory of the first, which must
// recognise m-1 and not charge o-1 again.
func TestRedeliveryAfterCrashChargesOnce(t *testing.T) {
	shop := newShop(t)
	first := shop.startBilling("billing")
	first.CrashOn(fault.AfterCommitTo("charges", 1))
	shop.place("m-1", "o-1", 4200)
	shop.waitCrash(first, "never committed a charge for m-1")

	shop.startBilling("billing") // restarted: the broker hands it m-1 again, marked redelivered
	shop.judge(2, "message m-1 was redelivered after Billing died right after its charge of o-1 committed (the ack "+
		"never left)")
}

// Billing dies as it commits the transaction that charges o-1: the commit never reaches the database, so the
// transaction rolls back. Nothing may be half done: the restarted Billing must still charge o-1, once. (This passes
// in the starter; it fails if the message is marked processed in a transaction of its own before the charge.)
func TestCrashBeforeCommitStillCharges(t *testing.T) {
	shop := newShop(t)
	first := shop.startBilling("billing")
	first.CrashOn(fault.BeforeCommitTo("charges", 1))
	shop.place("m-1", "o-1", 4200)
	shop.waitCrash(first, "never tried to commit a charge for m-1")

	shop.startBilling("billing")
	shop.judge(2, "message m-1 was redelivered after Billing died as it committed its charge of o-1 (the commit "+
		"never reached the database)")
}

// The payment ledger refuses the first write of o-1's charge (a deadlock victim, a failover: the database says no
// once). Billing fails the message, the broker delivers it again, and this time the charge must go in. (This passes
// in the starter; it fails if the message is marked processed before the charge is safely in.)
func TestFailedChargeIsChargedOnRetry(t *testing.T) {
	shop := newShop(t)
	shop.startBilling("billing")
	refused := shop.env.FailWrites("charges", 1)
	shop.place("m-1", "o-1", 4200)
	if !shop.env.Eventually(func() bool { return refused.Failed() == 1 }) {
		t.Fatal("Billing never tried to write o-1's charge")
	}
	shop.judge(2, "the database refused the first write of o-1's charge, once; m-1 was delivered again")
}

// Sales' publisher retried after a lost confirm, so m-1 is in Billing's queue twice, and two Billing instances (two
// processes) each take a copy at the same moment. The database holds the first write of each instance until both
// instances have sent one (a trigger, the test's line-up), so both have done whatever they do before writing.
func TestSameMessageOnTwoInstancesChargesOnce(t *testing.T) {
	shop := newShop(t)
	shop.lineUpFirstWrites()
	shop.startBilling("billing-a")
	shop.startBilling("billing-b")
	shop.place("m-1", "o-1", 4200)
	shop.place("m-1", "o-1", 4200) // the retry: same message, same id

	shop.judge(2, "message m-1 was delivered twice, one copy to each Billing instance at the same moment")
}

// The customer adds an item to o-1 after ordering, and Sales announces the extra 10.00 as a message of its own, m-2,
// for the same order. Two messages, two charges: only the message id tells a copy from a new message. (This passes in
// the starter; it fails if Billing takes the order id for the message's identity.)
func TestSecondMessageForOneOrderIsCharged(t *testing.T) {
	shop := newShop(t)
	shop.startBilling("billing")
	shop.place("m-1", "o-1", 4200)
	shop.place("m-2", "o-1", 1000) // another message for o-1: not a copy of m-1

	shop.judge(1, "m-1 and m-2 are two messages about order o-1 (42.00, then 10.00 for an item added later)")
}

// lineUpLimit caps how long the database holds the first write at the line-up, waiting for the second instance's.
// Both arrive within milliseconds when each instance makes a write for its copy (the starter and the solution never
// wait for it); the limit is paid only by a Billing whose second instance cannot write before the first commits (one
// that takes a lock first), which is slow, not wrong.
const lineUpLimit = 1500 * time.Millisecond

// testShop is one test's world: Billing's database, Sales' exchange, Billing's queue, and the messages sent.
type testShop struct {
	env             *harness.Env
	exchange, queue string
	sales           *harness.Publisher
	sent            []string       // message ids, each once, in the order first sent
	orders          []string       // what each message is about, as charged's items: "o-1 (message m-1)"
	copies          map[string]int // how many times each message id was published
	live            int            // Billing instances started and not (known to be) dead
}

func newShop(t *testing.T) *testShop { return shopIn(harness.New(t)) }

// shopIn builds a test's world in env.
func shopIn(env *harness.Env) *testShop {
	env.Exec(Schema)
	return &testShop{env: env, exchange: env.Name("sales"), queue: env.Name("billing"), sales: env.Publisher("sales"),
		copies: map[string]int{}}
}

// startBilling starts a Billing instance as the process called name (a process of its own) and waits until it is
// consuming.
func (s *testShop) startBilling(name string) *harness.Process {
	s.env.T.Helper()
	proc := s.env.SpawnRole(name, "billing", harness.Args{"exchange": s.exchange, "queue": s.queue})
	s.live++
	if !s.env.WaitConsuming(s.queue, s.live) {
		s.env.T.Fatalf("%s did not start consuming %q: %v", proc.Name, s.env.Short(s.queue), proc.Err())
	}
	return proc
}

// place publishes OrderPlaced for order with the message id id, as Sales does.
func (s *testShop) place(id, order string, cents int) {
	s.sales.SendWithID(id, s.exchange, OrderPlacedKey, shop.OrderPlaced{OrderID: order, Customer: "ann", Cents: cents})
	s.copies[id]++
	if !slices.Contains(s.sent, id) {
		s.sent = append(s.sent, id)
		s.orders = append(s.orders, fmt.Sprintf("%s (message %s)", order, id))
	}
}

// waitCrash waits until Billing has died of the crash armed on it, and fails the test saying what Billing never did
// otherwise. Then it waits until the broker has noticed: its consumer is gone from the queue. The broker drops a dead
// channel's consumers and requeues what they had not acked in one step, so from then on whatever the broker kept is
// back in the queue, and Settle cannot call the system quiet before it is handled.
func (s *testShop) waitCrash(billing *harness.Process, never string) {
	s.env.T.Helper()
	select {
	case <-billing.Crashed():
	case <-time.After(harness.Patience):
		s.env.T.Fatalf("Billing %s: %v", never, billing.Err())
	}
	s.live--
	if !s.env.WaitConsuming(s.queue, s.live) {
		s.env.T.Fatalf("the broker still counts %s's consumer on %q %v after it died", billing.Name, s.env.Short(s.queue),
			harness.Patience)
	}
}

// judge waits until every message was delivered at least deliveries times (and at least as often as it was
// published) and nothing is unacked, then fails the test unless every message sent was charged exactly once (what
// says what happened to it) and every message then stays settled.
func (s *testShop) judge(deliveries int, what string) {
	s.env.T.Helper()
	settled := s.settle(deliveries)
	s.judgeLedger(what)
	s.mustComeToRest(settled)
}

// settle waits until every message was delivered at least deliveries times (and as often as it was published),
// nothing is unacked and the ledger holds a charge per message, and reports whether that happened.
func (s *testShop) settle(deliveries int) bool {
	return s.env.Settle(func() bool { return s.done(deliveries) }, s.queue)
}

// done reports whether every message was delivered at least deliveries times (and as often as it was published),
// the ledger holds a charge per message, and all is idle (env.Idle: nothing unacked, the queue empty, nothing on
// the wire for a moment). Idle matters: a copy delivered to an instance that crashed counts as a delivery, so a
// message published twice can look delivered often enough while its second copy is still on its way (a chaos round
// was judged, and failed, in that moment).
func (s *testShop) done(deliveries int) bool {
	for _, id := range s.sent {
		if s.env.Deliveries(id) < max(deliveries, s.copies[id]) {
			return false
		}
	}
	return len(s.chargedOrders()) >= len(s.sent) && s.env.Idle(s.queue)
}

// chargedOrders lists every charge in the ledger as charged's items: "o-1 (message m-1)".
func (s *testShop) chargedOrders() []string {
	return s.env.Strings(`SELECT order_id || ' (message ' || message_id || ')' FROM charges ORDER BY id`)
}

// judgeLedger fails the test unless every message sent was charged exactly once, with the orders in the headline.
func (s *testShop) judgeLedger(what string) {
	s.env.T.Helper()
	findings := story.ExactlyOnce(charged, s.orders, s.chargedOrders())
	if len(findings) == 0 {
		return
	}
	var details []string
	for _, f := range findings[1:] {
		details = append(details, fmt.Sprintf("also %s: %s", f.Marker, f.Headline))
	}
	details = append(details, "the ledger: "+s.ledger())
	s.env.FailWith(findings[0].Marker, details, "%s; %s", findings[0].Headline, what)
}

// ledger describes the charges in the ledger: "o-1 4200 cents for m-1, o-1 4200 cents for m-1".
func (s *testShop) ledger() string {
	rows := s.env.Strings(`SELECT order_id || ' ' || cents || ' cents for ' || message_id FROM charges ORDER BY id`)
	if len(rows) == 0 {
		return "no charges"
	}
	return strings.Join(rows, ", ")
}

// mustComeToRest fails the test unless every message was settled (settled is what Settle reported) and then stays
// settled. A Billing that fails the copy it has already processed (an error for a duplicate) charges once, yet never
// finishes: the consumer nacks the copy, and the broker hands it out again and again.
func (s *testShop) mustComeToRest(settled bool) {
	s.env.T.Helper()
	s.env.Settle(func() bool { return s.looping() != "" }, s.queue)
	if id := s.looping(); id != "" {
		s.env.Fail(story.Stalled, "message %s was delivered %d times and keeps coming back: the copy Billing had "+
			"already processed was nacked instead of acked, so the broker delivers it again and again (a duplicate "+
			"is done, not an error)", id, s.env.Deliveries(id))
	}
	if !settled {
		s.env.Fail(story.Stalled, "Billing never finished with every copy of %s within %v: %s",
			strings.Join(s.sent, ", "), harness.Patience, s.unfinished())
	}
}

// unfinished says what done is still waiting for: copies not delivered, deliveries not acked, charges missing.
func (s *testShop) unfinished() string {
	var out []string
	for _, id := range s.sent {
		if n := s.env.Deliveries(id); n < s.copies[id] {
			out = append(out, fmt.Sprintf("%s was published %d times and delivered %d", id, s.copies[id], n))
		}
	}
	if n := s.env.Unacked(); n > 0 {
		out = append(out, fmt.Sprintf("%d deliveries unacked", n))
	}
	if n := len(s.chargedOrders()); n < len(s.sent) {
		out = append(out, fmt.Sprintf("%d charges in the ledger for %d messages", n, len(s.sent)))
	}
	if len(out) == 0 {
		return "it finished only after the wait had given up"
	}
	return strings.Join(out, "; ")
}

// looping returns a message delivered more than loopLimit times, or "".
func (s *testShop) looping() string {
	for _, id := range s.sent {
		if s.env.Deliveries(id) > loopLimit {
			return id
		}
	}
	return ""
}

// lineUpFirstWrites makes the database hold the first row written to charges or processed_messages, by whichever
// instance, until a second one is written (or lineUpLimit passes), then lets both go; later writes pass at once. So
// two instances handling two copies of a message are each at their first write before either is done: whatever a
// Billing checks before it writes, both have checked. It is a trigger, so no code path can step around it.
func (s *testShop) lineUpFirstWrites() {
	s.env.T.Helper()
	schema := s.env.Schema()
	seq := pgx.Identifier{schema, "lineup_arrivals"}.Sanitize()
	fn := pgx.Identifier{schema, "lineup"}.Sanitize()
	s.env.Exec(fmt.Sprintf(`
CREATE SEQUENCE %[1]s;
CREATE FUNCTION %[2]s() RETURNS trigger LANGUAGE plpgsql AS $body$
DECLARE
	deadline timestamptz := clock_timestamp() + interval '%[3]d milliseconds';
BEGIN
	PERFORM nextval('%[1]s');
	WHILE (SELECT last_value FROM %[1]s) < 2 AND clock_timestamp() < deadline LOOP
		PERFORM pg_sleep(0.002);
	END LOOP;
	RETURN NEW;
END
$body$;
CREATE TRIGGER lineup BEFORE INSERT ON charges FOR EACH ROW EXECUTE FUNCTION %[2]s();
CREATE TRIGGER lineup BEFORE INSERT ON processed_messages FOR EACH ROW EXECUTE FUNCTION %[2]s()`,
		seq, fn, lineUpLimit.Milliseconds()))
	s.env.Log("test", "the database holds the first write to charges or processed_messages until a second instance "+
		"writes too (test line-up, a trigger; at most %v)", lineUpLimit)
}
