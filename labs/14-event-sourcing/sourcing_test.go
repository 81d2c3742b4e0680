// Do not edit: this test shows the failure.

package sourcing

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"msglabs/shared/fault"
	"msglabs/shared/harness"
	"msglabs/shared/story"
)

// The projection and the shop's writers run in OS processes of their own (harness.Spawn): a restart or a redeployed
// projection is a new process with empty memory, as in production. The crashes are read off the wire (a commit, a
// publish), and the failed writes are database triggers, so they happen wherever the code puts its calls.
func TestMain(m *testing.M) {
	harness.Main(m, harness.Roles{"projection": runProjection, "writer": runWriter})
}

// runProjection runs the projection in its own process until ctx is done; with "rebuild" set, it rebuilds the read
// model first (a new deployment). With "held" set, it first waits until the test has armed its faults.
func runProjection(ctx context.Context, s *harness.Service) error {
	if s.Arg("held") != "" {
		s.Call("go", "")
	}
	p := &Projection{DB: s.Pool(), Broker: s.MustDial(), MailQueue: s.Arg("mail"), Log: s.Logf}
	if s.Arg("rebuild") != "" {
		if err := p.Rebuild(ctx); err != nil {
			return err
		}
	}
	return p.Run(ctx)
}

// runWriter runs one command on an order in its own process ("add" an item, or "ship"), and tells the test what it
// was told ("" for done). After it has read the order, it asks the test and waits for the answer.
func runWriter(ctx context.Context, s *harness.Service) error {
	orders := &Orders{Store: &Store{DB: s.Pool()}, Log: s.Logf,
		AfterLoad: func(orderID string) { s.Call("after-load", orderID) }}
	var err error
	switch s.Arg("do") {
	case "ship":
		err = orders.Ship(ctx, s.Arg("order"))
	default:
		var cents int
		fmt.Sscan(s.Arg("cents"), &cents)
		err = orders.AddItem(ctx, s.Arg("order"), ItemAdded{SKU: s.Arg("sku"), Cents: cents})
	}
	told := ""
	if err != nil {
		told = err.Error()
		s.Logf("told: %v", err)
	}
	s.Call("result", told)
	return nil
}

// holdLimit caps how long the test holds a writer that has read the order, waiting for the other one.
const holdLimit = 2 * time.Second

// aMonth is how long after the e-mails went out the read model is rebuilt: far beyond the Mailer's memory of ids.
const aMonth = 30 * 24 * time.Hour

var (
	recorded = story.Expect{Item: "item", From: "added by a writer told \"done\"", Done: "recorded in order o-1's stream"}
	emailed  = story.Expect{Item: "order", From: "shipped", Done: "e-mailed"}
)

// Step 1. Sales adds a book to order o-1 while customer service adds gift-wrap, each in its own process. Both read the
// order at version 1 and are held there until both have read it; then both append, their writes to the store held
// until both are writing, so whatever either checks before it writes, both have checked. Both were told "done": both
// items must be in the stream.
func TestConcurrentWritersKeepBothItems(t *testing.T) {
	env := harness.New(t)
	env.Exec(Schema)
	record(env, "o-1", OrderPlaced{Customer: "ann", Cents: 4200})

	sales := startWriter(env, "sales", harness.Args{"order": "o-1", "do": "add", "sku": "book", "cents": "1500"})
	support := startWriter(env, "support", harness.Args{"order": "o-1", "do": "add", "sku": "gift-wrap", "cents": "300"})
	sales.waitLoaded()
	support.waitLoaded()
	gate := holdWrites(env, "events")
	env.Log("test", "both writers have read o-1 at version 1: let go, their writes to the store held")
	sales.letGo()
	support.letGo()
	gate.waitBlocked(2)
	env.Log("test", "both writers are waiting to write to the store: released together")
	gate.release()
	for _, w := range []*writer{sales, support} {
		if told := w.told(); told != "" {
			t.Fatalf("%s was told its change failed: %s\n%s", w.proc.Name, told, env.Timeline)
		}
	}

	order := replayStream(env, "o-1")
	env.ExactlyOnce(recorded.Because("both writers read o-1 at version 1, were held there together, then appended"),
		[]string{"book", "gift-wrap"}, order.Items, "the stream holds: "+strings.Join(eventsOf(env, "o-1"), ", "))
}

// Step 1. The warehouse ships order o-1 while customer service adds gift-wrap to it. Both read o-1 at version 1; the
// warehouse appends first. The gift-wrap must not slip in after the shipment: customer service must be told the order
// has shipped, or its item must be in the stream before OrderShipped.
func TestNoItemSlipsInAfterShipping(t *testing.T) {
	env := harness.New(t)
	env.Exec(Schema)
	record(env, "o-1", OrderPlaced{Customer: "ann", Cents: 4200})

	warehouse := startWriter(env, "warehouse", harness.Args{"order": "o-1", "do": "ship"})
	support := startWriter(env, "support", harness.Args{"order": "o-1", "do": "add", "sku": "gift-wrap", "cents": "300"})
	warehouse.waitLoaded()
	support.waitLoaded()
	env.Log("test", "both have read o-1 at version 1: the warehouse goes first")
	warehouse.letGo()
	if told := warehouse.told(); told != "" {
		t.Fatalf("the warehouse was told shipping o-1 failed: %s\n%s", told, env.Timeline)
	}
	support.letGo()
	told := support.told()

	stream := eventsOf(env, "o-1")
	shippedAt := slices.Index(stream, "v2 OrderShipped")
	itemAt := slices.IndexFunc(stream, func(e string) bool { return strings.HasSuffix(e, "ItemAdded gift-wrap") })
	held := "the stream holds: " + strings.Join(stream, ", ")
	switch {
	case shippedAt < 0:
		env.FailWith(story.Lost, []string{held}, "order o-1's shipment was never recorded in its stream, though the "+
			"warehouse was told it was (both read o-1 at version 1; the warehouse appended first)")
	case told == "" && itemAt < 0:
		env.FailWith(story.Lost, []string{held}, "item gift-wrap was never recorded in order o-1's stream, though "+
			"customer service was told it was added (both read o-1 at version 1; the warehouse appended first)")
	case itemAt > shippedAt:
		env.FailWith(story.Lost, []string{held}, "item gift-wrap was added to order o-1 after it shipped: it will "+
			"never reach the customer (customer service read o-1 before the shipment and appended after it without "+
			"reading again)")
	case told != "" && !strings.Contains(told, ErrShipped.Error()):
		t.Fatalf("customer service was refused for another reason than the shipment: %s\n%s", told, env.Timeline)
	}
}

// Step 1 (passes from the start). The audit trail: the order as it was after any of its events.
func TestOrderAsOfAnyEvent(t *testing.T) {
	env := harness.New(t)
	env.Exec(Schema)
	ctx := env.Context()
	store := &Store{DB: env.DB()}
	changes := []Change{OrderPlaced{Customer: "ann", Cents: 4200}, ItemAdded{SKU: "book", Cents: 1500},
		ItemAdded{SKU: "gift-wrap", Cents: 300}, OrderShipped{}}
	if err := store.Append(ctx, "o-1", 0, changes...); err != nil {
		t.Fatal(err)
	}

	want := []struct {
		items  []string
		cents  int
		status string
	}{
		{nil, 4200, "placed"},
		{[]string{"book"}, 5700, "placed"},
		{[]string{"book", "gift-wrap"}, 6000, "placed"},
		{[]string{"book", "gift-wrap"}, 6000, "shipped"},
	}
	for i, w := range want {
		got, err := StateAt(ctx, store, "o-1", i+1)
		if err != nil {
			t.Fatal(err)
		}
		if got.Version != i+1 || !slices.Equal(got.Items, w.items) || got.Cents != w.cents || got.Status != w.status {
			t.Fatalf("o-1 as of event %d: got %+v, want items %v, %d cents, %s", i+1, got, w.items, w.cents, w.status)
		}
	}
	if _, err := StateAt(ctx, store, "o-1", 5); err == nil {
		t.Fatal("StateAt answered for an event that does not exist")
	}
}

// Step 2. The projection dies twice in a row while order o-1 gets its items: first right after the transaction that
// changed the read model for the book committed, then (its restart) when the database refuses its next write to the
// read model. Each time it is restarted. The read model must count every event exactly once.
func TestProjectionCrashCountsEachEventOnce(t *testing.T) {
	w := newWorld(harness.New(t))
	first := w.startProjection(false)
	first.CrashOn(fault.AfterCommitTo("order_summaries", 2))
	record(w.env, "o-1", OrderPlaced{Customer: "ann", Cents: 4200}, ItemAdded{SKU: "book", Cents: 1500},
		ItemAdded{SKU: "gift-wrap", Cents: 300})
	w.waitCrash(first, "never committed a second change to the read model")

	w.env.FailWrites("order_summaries", 1)
	w.catchUp(w.startProjection(false), "o-1")

	w.judgeSummaries("the projection died right after its 2nd commit to the read model, then its restart's next write "+
		"to the read model failed", "o-1")
}

// Step 2 (passes from the start; it failed before the Mailer knew e-mail ids). Order o-1 ships, the projection asks
// for its e-mail, and then the write of o-1's checkpoint fails. Order o-2 ships, and the projection dies just before
// the commit that records it. Each time it is restarted. Each customer is e-mailed once.
func TestFailedCheckpointSendsNoSecondEmail(t *testing.T) {
	w := newWorld(harness.New(t))
	p := w.startProjection(false)
	record(w.env, "o-1", OrderPlaced{Customer: "ann", Cents: 4200})
	record(w.env, "o-2", OrderPlaced{Customer: "bob", Cents: 1000})
	p = w.catchUp(p, "o-1", "o-2")

	w.env.FailWrites("projection_checkpoints", 1)
	record(w.env, "o-1", OrderShipped{})
	p = w.catchUp(p, "o-1")

	p.CrashOn(fault.BeforeCommitTo("projection_checkpoints", 1))
	record(w.env, "o-2", OrderShipped{})
	w.waitCrash(p, "never tried to commit the checkpoint of o-2's OrderShipped")
	w.catchUp(w.startProjection(false), "o-1", "o-2")

	w.judgeEmails([]string{"o-1", "o-2"}, "o-1's checkpoint write failed after its e-mail was requested, and the "+
		"projection died just before committing o-2's OrderShipped")
}

// Step 2 (passes from the start). Order o-1 ships and the projection dies right after the commit that records it;
// order o-2 ships and the projection dies just before its SendEmail reaches the broker. Each time it is restarted.
// Each customer is still e-mailed once.
func TestCrashAfterCommitStillEmails(t *testing.T) {
	w := newWorld(harness.New(t))
	p := w.startProjection(false)
	record(w.env, "o-1", OrderPlaced{Customer: "ann", Cents: 4200})
	record(w.env, "o-2", OrderPlaced{Customer: "bob", Cents: 1000})
	p = w.catchUp(p, "o-1", "o-2")

	p.CrashOn(fault.AfterCommitTo("projection_checkpoints", 1))
	record(w.env, "o-1", OrderShipped{})
	w.waitCrash(p, "never committed the checkpoint of o-1's OrderShipped")
	p = w.catchUp(w.startProjection(false), "o-1", "o-2")

	p.CrashOn(fault.BeforePublishOf(fault.Msg{Type: "SendEmail"}))
	record(w.env, "o-2", OrderShipped{})
	w.waitCrash(p, "never asked for o-2's e-mail")
	w.catchUp(w.startProjection(false), "o-1", "o-2")

	w.judgeEmails([]string{"o-1", "o-2"}, "the projection died right after committing o-1's OrderShipped, and just "+
		"before o-2's SendEmail reached the broker")
}

// Step 3. Orders o-1 and o-2 shipped and their customers were e-mailed. A month later the read model is found wrong
// and the team deploys a projection (a new process) that rebuilds it from the events; meanwhile o-3 got gift-wrap and
// shipped while no projection ran. The rebuilt model must be right (o-3's gift-wrap counted once: by the rebuild or by
// the live loop, not by both), o-3's customer e-mailed once, and nobody else e-mailed again.
func TestRebuildSendsNoEmails(t *testing.T) {
	w := newWorld(harness.New(t))
	live := w.startProjection(false)
	record(w.env, "o-1", OrderPlaced{Customer: "ann", Cents: 4200}, OrderShipped{})
	record(w.env, "o-2", OrderPlaced{Customer: "bob", Cents: 1000}, ItemAdded{SKU: "book", Cents: 1500}, OrderShipped{})
	record(w.env, "o-3", OrderPlaced{Customer: "cat", Cents: 700})
	w.catchUp(live, "o-1", "o-2", "o-3")
	w.env.Eventually(func() bool { return len(w.emails()) >= 2 })
	w.env.ExactlyOnce(emailed.Because("before any rebuild, while the projection ran live"), []string{"o-1", "o-2"},
		w.emails())

	live.Kill()
	w.clock.advance(aMonth)
	w.env.Log("test", "a month later (the Mailer's clock moved on 30 days)")
	record(w.env, "o-3", ItemAdded{SKU: "gift-wrap", Cents: 300}, OrderShipped{})
	w.env.Exec(`UPDATE order_summaries SET cents = 0`)
	w.env.Log("test", "the read model is found wrong (every total is 0); a projection that rebuilds it is deployed")
	w.catchUp(w.startProjection(true), "o-1", "o-2", "o-3")
	w.judgeSummaries("the read model was rebuilt from the events; o-3 got gift-wrap and shipped after the old "+
		"projection's last checkpoint, while no projection ran", "o-1", "o-2", "o-3")
	w.judgeEmails([]string{"o-1", "o-2", "o-3"}, "the read model was rebuilt a month after o-1 and o-2 were e-mailed; "+
		"o-3 got gift-wrap and shipped while no projection ran")
}

// Step 3 (passes from the start). The redeployed projection dies right after its rebuild's first commit to the read
// model, and the team rolls back to the old projection, which does not rebuild. The read model it goes on with must
// be whole.
func TestRebuildCrashLeavesOldReadModel(t *testing.T) {
	w := newWorld(harness.New(t))
	live := w.startProjection(false)
	record(w.env, "o-1", OrderPlaced{Customer: "ann", Cents: 4200}, ItemAdded{SKU: "book", Cents: 1500}, OrderShipped{})
	record(w.env, "o-2", OrderPlaced{Customer: "bob", Cents: 1000})
	w.catchUp(live, "o-1", "o-2")
	live.Kill()

	w.env.Log("test", "a projection that rebuilds the read model is deployed")
	rebuilding := w.startArmed(true, func(p *harness.Process) { p.CrashOn(fault.AfterCommitTo("order_summaries", 1)) })
	w.waitCrash(rebuilding, "never committed anything to the read model while rebuilding it")
	w.env.Log("test", "the deployment is rolled back: the old projection (no rebuild) starts again")
	w.catchUp(w.startProjection(false), "o-1", "o-2")
	w.judgeSummaries("the rebuild died right after its first commit to the read model, and the old projection went on", "o-1", "o-2")
}

// world is one test's shop: the schema, the Mailer (with a clock the test can move), the Mailer's queue, and the
// mail provider's database, a schema of its own that only the Mailer's pool searches.
type world struct {
	env        *harness.Env
	mailQ      string
	mailSchema string
	clock      *clock
}

// maxRestarts bounds how often catchUp restarts a projection that keeps dying.
const maxRestarts = 3

func newWorld(env *harness.Env) *world {
	env.Exec(Schema)
	w := &world{env: env, mailQ: env.Name("mail"), mailSchema: env.ExtraSchema("mail"), clock: &clock{}}
	proc := env.Process("mailer")
	mailDB := poolIn(env, proc, w.mailSchema)
	if _, err := mailDB.Exec(env.Context(), MailSchema); err != nil {
		env.T.Fatalf("create the mail provider's tables: %v", err)
	}
	m := &Mailer{DB: mailDB, Now: w.clock.now, Log: logTo(env, proc.Name)}
	conn := proc.MustDial()
	proc.Go(func(ctx context.Context) error {
		defer mailDB.Close()
		return m.Consume(ctx, conn, w.mailQ)
	})
	if !env.WaitConsuming(w.mailQ, 1) {
		env.T.Fatalf("the mailer did not start consuming %q: %v", env.Short(w.mailQ), proc.Err())
	}
	return w
}

// poolIn opens a pool like proc's (through its proxy, so its faults and the timeline apply) that searches schema
// instead of the test's.
func poolIn(env *harness.Env, proc *harness.Process, schema string) *pgxpool.Pool {
	env.T.Helper()
	cfg := proc.Pool().Config()
	cfg.ConnConfig.RuntimeParams["search_path"] = schema
	pool, err := pgxpool.NewWithConfig(env.Context(), cfg)
	if err != nil {
		env.T.Fatalf("open a pool on schema %s: %v", schema, err)
	}
	return pool
}

// startProjection starts a projection process; with rebuild, it rebuilds the read model before it runs.
func (w *world) startProjection(rebuild bool) *harness.Process {
	args := harness.Args{"mail": w.mailQ}
	if rebuild {
		args["rebuild"] = "yes"
	}
	return w.env.Spawn("projection", args)
}

// startArmed starts a projection process that touches nothing until arm has armed its faults on it (a restarted
// projection has work waiting: armed after it started, a fault could come too late for its first commit).
func (w *world) startArmed(rebuild bool, arm func(p *harness.Process)) *harness.Process {
	args := harness.Args{"mail": w.mailQ, "held": "yes"}
	if rebuild {
		args["rebuild"] = "yes"
	}
	p := w.env.Spawn("projection", args)
	arm(p)
	p.On("go", func(string) string { return "" })
	return p
}

// waitCrash waits until the projection has died of the crash armed on it.
func (w *world) waitCrash(p *harness.Process, never string) {
	w.env.T.Helper()
	select {
	case <-p.Crashed():
	case <-time.After(harness.Patience):
		w.env.T.Fatalf("%s %s within %v (errors: %v)\n%s", p.Name, never, harness.Patience, p.Err(), w.env.Timeline)
	}
}

// catchUp waits until a projection has handled every event of the orders, restarting it (a new process) whenever it
// died, and returns the one that runs.
func (w *world) catchUp(p *harness.Process, orderIDs ...string) *harness.Process {
	w.env.T.Helper()
	for restarts := 0; ; restarts++ {
		if !w.env.Eventually(func() bool { return p.Dead() || caughtUp(w.env, orderIDs...) }) {
			w.env.Fail(story.Stalled, "the projection did not catch up with %v within %v (%s)",
				orderIDs, harness.Patience, describeCheckpoints(w.env, orderIDs...))
		}
		if !p.Dead() {
			return p
		}
		if restarts == maxRestarts {
			w.env.Fail(story.Stalled, "the projection died %d times in a row before it caught up with %v: %v",
				restarts+1, orderIDs, p.Err())
		}
		p = w.startProjection(false)
	}
}

// judgeSummaries fails the test unless each order's summary in the read model is what its events add up to.
func (w *world) judgeSummaries(what string, orderIDs ...string) {
	w.env.T.Helper()
	for _, id := range orderIDs {
		want, got := replayStream(w.env, id), summaryOf(w.env, id)
		switch {
		case !got.found:
			w.env.Fail(story.Lost, "order %s is missing from the read model; %s", id, what)
		case got.items > len(want.Items) || got.cents > want.Cents:
			w.env.Fail(story.Duplicate, "order %s's summary shows %d item(s) and %d cents, but its events add up to %d "+
				"item(s) and %d cents: an event was counted twice; %s", id, got.items, got.cents, len(want.Items), want.Cents, what)
		case got.items < len(want.Items) || got.cents < want.Cents || got.status != want.Status:
			w.env.Fail(story.Lost, "order %s's summary shows %d item(s), %d cents, %s, but its events add up to %d "+
				"item(s), %d cents, %s: an event never reached the read model; %s",
				id, got.items, got.cents, got.status, len(want.Items), want.Cents, want.Status, what)
		}
	}
}

// judgeEmails waits until the Mailer has dealt with every SendEmail the broker took from a projection and has
// e-mailed every order in want (or nothing moves any more), and fails the test unless each was e-mailed exactly once.
// The wait ends on what the Mailer did, not on a count of e-mails: a repeat still in its queue is judged too.
func (w *world) judgeEmails(want []string, what string) {
	w.env.T.Helper()
	w.env.Settle(func() bool {
		return w.mailerCaughtUp() && len(missing(want, w.emails())) == 0
	}, w.mailQ)
	w.env.ExactlyOnce(emailed.Because("%s", what), want, w.emails())
}

// mailerCaughtUp reports whether the Mailer has settled every SendEmail the broker confirmed to a projection (as often
// as it was confirmed) and nothing waits in its queue or unacked: no e-mail is on its way any more.
func (w *world) mailerCaughtUp() bool {
	confirmed, settled := map[string]int{}, map[string]int{}
	for _, e := range w.env.Timeline.Entries() {
		switch {
		case e.Kind == story.Confirm && strings.HasPrefix(e.Actor, "projection"):
			confirmed[e.Message]++
		case (e.Kind == story.Ack || e.Kind == story.Nack || e.Kind == story.Reject) && e.Actor == "mailer":
			settled[e.Message]++
		}
	}
	for id, n := range confirmed {
		if settled[id] < n {
			return false
		}
	}
	depth, _, err := w.env.QueueDepth(w.mailQ)
	return err == nil && depth == 0 && w.env.Unacked() == 0
}

// missing returns the ids of want that got does not hold.
func missing(want, got []string) []string {
	var out []string
	for _, id := range want {
		if !slices.Contains(got, id) {
			out = append(out, id)
		}
	}
	return out
}

// clock is the Mailer's clock: the wall clock, moved on by the test. It is safe for concurrent use.
type clock struct{ ahead atomic.Int64 }

func (c *clock) now() time.Time          { return time.Now().Add(time.Duration(c.ahead.Load())) }
func (c *clock) advance(d time.Duration) { c.ahead.Add(int64(d)) }

// writer is a spawned writer process that the test holds after it has read the order, until the test lets it go.
type writer struct {
	env     *harness.Env
	proc    *harness.Process
	loaded  chan struct{} // closed when it has read the order for the first time
	release chan struct{} // closed by the test to let it append
	result  chan string   // what it was told: "" for done, else the error
}

func startWriter(env *harness.Env, name string, args harness.Args) *writer {
	env.T.Helper()
	w := &writer{env: env, loaded: make(chan struct{}), release: make(chan struct{}), result: make(chan string, 1)}
	w.proc = env.SpawnRole(name, "writer", args)
	var once sync.Once
	w.proc.On("after-load", func(string) string {
		first := false
		once.Do(func() { first = true; close(w.loaded) })
		if first { // only the first read is held: a writer that reads again after a conflict goes on at once
			select {
			case <-w.release:
			case <-time.After(holdLimit):
			}
		}
		return ""
	})
	w.proc.On("result", func(told string) string { w.result <- told; return "" })
	return w
}

func (w *writer) waitLoaded() {
	w.env.T.Helper()
	select {
	case <-w.loaded:
	case <-time.After(holdLimit):
		w.env.T.Fatalf("%s never got past reading the order within %v (errors: %v)\n%s", w.proc.Name, holdLimit,
			w.proc.Err(), w.env.Timeline)
	}
}

func (w *writer) letGo() { close(w.release) }

// told waits for what the writer was told: "" for done, else its error.
func (w *writer) told() string {
	w.env.T.Helper()
	select {
	case told := <-w.result:
		return told
	case <-time.After(harness.Patience):
		w.env.T.Fatalf("%s was never told whether its change was made (errors: %v)\n%s", w.proc.Name, w.proc.Err(),
			w.env.Timeline)
		return ""
	}
}

// writeGate holds every write to a table: a transaction of the test's holds a SHARE lock on it, which lets reads
// through and makes every INSERT or UPDATE wait until release.
type writeGate struct {
	env   *harness.Env
	table string
	tx    pgx.Tx
	pid   int // the gate's backend
}

func holdWrites(env *harness.Env, table string) *writeGate {
	env.T.Helper()
	ctx := env.Context()
	tx, err := env.DB().Begin(ctx)
	if err != nil {
		env.T.Fatal(err)
	}
	env.T.Cleanup(func() { _ = tx.Rollback(context.Background()) })
	g := &writeGate{env: env, table: table, tx: tx}
	if err := tx.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&g.pid); err != nil {
		env.T.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `LOCK TABLE `+pgx.Identifier{table}.Sanitize()+` IN SHARE MODE`); err != nil {
		env.T.Fatalf("hold writes to %s: %v", table, err)
	}
	return g
}

// waitBlocked waits until n transactions wait for the gate, directly or behind one that does (a row lock), or until
// Patience has passed: a writer that never writes is judged by what it was told.
func (g *writeGate) waitBlocked(n int) {
	g.env.Eventually(func() bool {
		return g.env.Int(`WITH RECURSIVE held(pid) AS (
				SELECT a.pid FROM pg_stat_activity a WHERE $1::int = ANY (pg_blocking_pids(a.pid))
				UNION
				SELECT a.pid FROM pg_stat_activity a JOIN held h ON h.pid = ANY (pg_blocking_pids(a.pid)))
			SELECT count(*) FROM held`, g.pid) >= n
	})
}

func (g *writeGate) release() {
	if err := g.tx.Commit(g.env.Context()); err != nil {
		g.env.T.Fatalf("release writes to %s: %v", g.table, err)
	}
}

// record appends changes to a stream as the shop's other writers do, right after its last event. It writes the rows
// itself, so that the store's Append is judged only where a test means to.
func record(env *harness.Env, orderID string, changes ...Change) {
	env.T.Helper()
	for _, c := range changes {
		data, err := json.Marshal(c)
		if err != nil {
			env.T.Fatal(err)
		}
		env.Exec(`INSERT INTO events (stream_id, version, type, data)
			SELECT $1::text, coalesce(max(version), 0) + 1, $2::text, $3::jsonb FROM events WHERE stream_id = $1::text`,
			orderID, c.EventType(), data)
	}
	env.Log("test", "stream %s: %s", orderID, strings.Join(eventsOf(env, orderID), ", "))
}

func eventsOf(env *harness.Env, orderID string) []string {
	return env.Strings(`SELECT 'v' || version || ' ' || type || CASE WHEN type = 'ItemAdded' THEN ' ' || (data->>'sku') ELSE '' END
		FROM events WHERE stream_id = $1 ORDER BY version`, orderID)
}

// stores holds one Store per test, on the test's own pool, for replayStream.
var stores sync.Map // *harness.Env → *Store

// replayStream folds an order's stream as the audit trail does: the truth the read model must add up to.
func replayStream(env *harness.Env, orderID string) Order {
	env.T.Helper()
	store, ok := stores.Load(env)
	if !ok {
		store, _ = stores.LoadOrStore(env, &Store{DB: env.DB()})
		env.T.Cleanup(func() { stores.Delete(env) })
	}
	events, err := store.(*Store).Load(env.Context(), orderID)
	if err != nil {
		env.T.Fatal(err)
	}
	o, err := Replay(events)
	if err != nil {
		env.T.Fatal(err)
	}
	return o
}

type summary struct {
	found        bool
	items, cents int
	status       string
}

func summaryOf(env *harness.Env, orderID string) summary {
	env.T.Helper()
	var s summary
	rows := env.Strings(`SELECT items || ' ' || cents || ' ' || status FROM order_summaries WHERE order_id = $1`, orderID)
	if len(rows) == 1 {
		s.found = true
		_, _ = fmt.Sscanf(rows[0], "%d %d %s", &s.items, &s.cents, &s.status)
	}
	return s
}

// caughtUp reports whether the projection's checkpoint of every stream is at the stream's last version.
func caughtUp(env *harness.Env, orderIDs ...string) bool {
	for _, id := range orderIDs {
		if lastVersion(env, id) != checkpoint(env, id) {
			return false
		}
	}
	return true
}

func lastVersion(env *harness.Env, orderID string) int {
	return env.Int(`SELECT coalesce(max(version), 0) FROM events WHERE stream_id = $1`, orderID)
}

func checkpoint(env *harness.Env, orderID string) int {
	return env.Int(`SELECT coalesce(max(version), 0) FROM projection_checkpoints WHERE stream_id = $1`, orderID)
}

func describeCheckpoints(env *harness.Env, orderIDs ...string) string {
	parts := make([]string, len(orderIDs))
	for i, id := range orderIDs {
		parts[i] = fmt.Sprintf("%s: checkpoint v%d of v%d", id, checkpoint(env, id), lastVersion(env, id))
	}
	return strings.Join(parts, "; ")
}

// emails lists the order of every e-mail the mail provider sent, in the order it sent them.
func (w *world) emails() []string {
	table := pgx.Identifier{w.mailSchema, "sent_emails"}.Sanitize()
	return w.env.Strings(`SELECT order_id FROM ` + table + ` ORDER BY id`)
}

func logTo(env *harness.Env, actor string) func(string, ...any) {
	return func(format string, args ...any) { env.Log(actor, format, args...) }
}
