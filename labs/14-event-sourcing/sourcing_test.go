// Do not edit: this test shows the failure.

package sourcing

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"msglabs/shared/fault"
	"msglabs/shared/harness"
	"msglabs/shared/story"
)

// holdLimit caps how long the barrier holds one writer waiting for the other.
const holdLimit = 2 * time.Second

var (
	recorded = story.Expect{Item: "item", From: "added by a writer told \"done\"", Done: "recorded in order o-1's stream"}
	emailed  = story.Expect{Item: "order", From: "shipped", Done: "e-mailed to its customer"}
)

// Sales adds a book to order o-1 while customer service adds gift-wrap. Both read the order at version 1 and are
// held there until both have read it; then both append. Both were told "done": both items must be in the stream.
func TestConcurrentWritersKeepBothItems(t *testing.T) {
	env := harness.New(t)
	env.Exec(Schema)
	ctx := env.Context()
	mustAppend(env, &Store{DB: env.DB()}, "o-1", OrderPlaced{Customer: "ann", Cents: 4200})

	gate := fault.NewBarrier(2, holdLimit, func() { env.Log("test", "2 writers have read o-1: released together") })
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, w := range []struct {
		name string
		item ItemAdded
	}{{"sales", ItemAdded{SKU: "book", Cents: 1500}}, {"support", ItemAdded{SKU: "gift-wrap", Cents: 300}}} {
		orders := &Orders{Store: &Store{DB: env.Process(w.name).Pool()}, AfterLoad: func(string) { gate.Wait() }, Log: logTo(env, w.name)}
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = orders.AddItem(ctx, "o-1", w.item) }()
	}
	wg.Wait()
	if !gate.Full() {
		t.Fatalf("only %d of 2 writers reached AfterLoad together (errors: %v)", gate.Arrived(), errs)
	}
	for _, err := range errs {
		if err != nil {
			t.Fatalf("a writer was told its change failed: %v", err)
		}
	}

	order := replayStream(env, "o-1")
	env.ExactlyOnce(recorded, []string{"book", "gift-wrap"}, order.Items,
		"both writers read o-1 at version 1, were held there together, then appended; both were told the item was added",
		"the stream holds: "+strings.Join(eventsOf(env, "o-1"), ", "))
}

// The projection crashes right after committing its change to the read model for ItemAdded, and is restarted.
// The read model must count every event exactly once.
func TestProjectionCrashCountsEachEventOnce(t *testing.T) {
	env := harness.New(t)
	env.Exec(Schema)
	mailQ := env.Name("mail")
	store := &Store{DB: env.DB()}
	mustAppend(env, store, "o-1", OrderPlaced{Customer: "ann", Cents: 4200}, ItemAdded{SKU: "gift-wrap", Cents: 300})
	startMailer(env, mailQ)

	first := env.Process("projection")
	first.Points.ArmNth(fault.AfterCommit, 2)
	startProjection(env, first, mailQ, false)
	select {
	case <-first.Points.Crashed():
	case <-time.After(harness.Patience):
		t.Fatalf("the projection never reached its crash point %q a second time: keep the Points.At call after the "+
			"commit (errors: %v)\n%s", fault.AfterCommit, first.Err(), env.Timeline)
	}
	startProjection(env, env.Process("projection"), mailQ, false)
	waitCaughtUp(env, "o-1")

	want, got := replayStream(env, "o-1"), summaryOf(env, "o-1")
	if got.items != len(want.Items) || got.cents != want.Cents {
		env.Fail(story.Duplicate, "order o-1's summary shows %d item(s) and %d cents, but its events add up to %d item(s) "+
			"and %d cents: an event was counted twice after the projection crashed at %q and restarted",
			got.items, got.cents, len(want.Items), want.Cents, fault.AfterCommit)
	}
}

// Orders o-1 and o-2 shipped and their customers were e-mailed. Later the read model is found wrong and the team
// deploys a projection that rebuilds it from the events. The rebuilt model must be right, and nobody is e-mailed again.
func TestRebuildSendsNoEmails(t *testing.T) {
	env := harness.New(t)
	env.Exec(Schema)
	mailQ := env.Name("mail")
	store := &Store{DB: env.DB()}
	mustAppend(env, store, "o-1", OrderPlaced{Customer: "ann", Cents: 4200}, OrderShipped{})
	mustAppend(env, store, "o-2", OrderPlaced{Customer: "bob", Cents: 1000}, ItemAdded{SKU: "book", Cents: 1500}, OrderShipped{})
	mustAppend(env, store, "o-3", OrderPlaced{Customer: "cat", Cents: 700})
	startMailer(env, mailQ)

	live := env.Process("projection")
	startProjection(env, live, mailQ, false)
	env.Eventually(func() bool { return caughtUp(env, "o-1", "o-2", "o-3") && len(emails(env)) >= 2 })
	env.ExactlyOnce(emailed, []string{"o-1", "o-2"}, emails(env), "before any rebuild, while the projection ran live")

	live.Kill()
	env.Exec(`UPDATE order_summaries SET cents = 0`)
	env.Log("test", "the read model is found wrong (every total is 0); a projection that rebuilds it is deployed")
	startProjection(env, env.Process("projection"), mailQ, true)
	if !env.Eventually(func() bool { return caughtUp(env, "o-1", "o-2", "o-3") && summariesRight(env, "o-1", "o-2", "o-3") }) {
		env.Fail(story.Stalled, "the rebuild did not bring the read model back: %s", describeSummaries(env, "o-1", "o-2", "o-3"))
	}
	env.Settle(func() bool { return len(emails(env)) > 2 }, mailQ)
	env.ExactlyOnce(emailed, []string{"o-1", "o-2"}, emails(env),
		"the read model was rebuilt from the events; the e-mails had been sent before the rebuild")
}

// The audit trail: the order as it was after any of its events.
func TestOrderAsOfAnyEvent(t *testing.T) {
	env := harness.New(t)
	env.Exec(Schema)
	ctx := env.Context()
	store := &Store{DB: env.DB()}
	mustAppend(env, store, "o-1", OrderPlaced{Customer: "ann", Cents: 4200}, ItemAdded{SKU: "book", Cents: 1500},
		ItemAdded{SKU: "gift-wrap", Cents: 300}, OrderShipped{})

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

// mustAppend writes a new stream (the test acting as Sales).
func mustAppend(env *harness.Env, store *Store, orderID string, changes ...Change) {
	env.T.Helper()
	if err := store.Append(env.Context(), orderID, 0, changes...); err != nil {
		env.T.Fatal(err)
	}
	env.Log("test", "stream %s written: %s", orderID, strings.Join(eventsOf(env, orderID), ", "))
}

func eventsOf(env *harness.Env, orderID string) []string {
	return env.Strings(`SELECT 'v' || version || ' ' || type || CASE WHEN type = 'ItemAdded' THEN ' ' || (data->>'sku') ELSE '' END
		FROM events WHERE stream_id = $1 ORDER BY version`, orderID)
}

func replayStream(env *harness.Env, orderID string) Order {
	env.T.Helper()
	events, err := (&Store{DB: env.DB()}).Load(env.Context(), orderID)
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
	items, cents int
	status       string
}

func summaryOf(env *harness.Env, orderID string) summary {
	env.T.Helper()
	var s summary
	rows := env.Strings(`SELECT items || ' ' || cents || ' ' || status FROM order_summaries WHERE order_id = $1`, orderID)
	if len(rows) == 1 {
		_, _ = fmt.Sscanf(rows[0], "%d %d %s", &s.items, &s.cents, &s.status)
	}
	return s
}

func summariesRight(env *harness.Env, orderIDs ...string) bool {
	for _, id := range orderIDs {
		o := replayStream(env, id)
		if summaryOf(env, id) != (summary{items: len(o.Items), cents: o.Cents, status: o.Status}) {
			return false
		}
	}
	return true
}

func describeSummaries(env *harness.Env, orderIDs ...string) string {
	parts := make([]string, len(orderIDs))
	for i, id := range orderIDs {
		o, s := replayStream(env, id), summaryOf(env, id)
		parts[i] = fmt.Sprintf("%s shows %d cents (its events: %d)", id, s.cents, o.Cents)
	}
	return strings.Join(parts, "; ")
}

// caughtUp reports whether the projection's checkpoint of every stream is at the stream's last version.
func caughtUp(env *harness.Env, orderIDs ...string) bool {
	for _, id := range orderIDs {
		if env.Int(`SELECT coalesce(max(version), 0) FROM events WHERE stream_id = $1`, id) !=
			env.Int(`SELECT coalesce(max(version), 0) FROM projection_checkpoints WHERE stream_id = $1`, id) {
			return false
		}
	}
	return true
}

func waitCaughtUp(env *harness.Env, orderIDs ...string) {
	env.T.Helper()
	if !env.Eventually(func() bool { return caughtUp(env, orderIDs...) }) {
		env.Fail(story.Stalled, "the projection did not catch up with %v within %v", orderIDs, harness.Patience)
	}
}

func emails(env *harness.Env) []string {
	return env.Strings(`SELECT order_id FROM sent_emails ORDER BY id`)
}

func startMailer(env *harness.Env, queue string) {
	env.T.Helper()
	proc := env.Process("mailer")
	m := &Mailer{DB: proc.Pool()}
	conn := proc.MustDial()
	proc.Go(func(ctx context.Context) error { return m.Consume(ctx, conn, queue) })
	if !env.Eventually(func() bool { _, c, err := env.QueueDepth(queue); return err == nil && c > 0 }) {
		env.T.Fatalf("the mailer did not start consuming %q: %v", env.Short(queue), proc.Err())
	}
}

// startProjection runs the projection as proc; with rebuild, it first rebuilds the read model.
func startProjection(env *harness.Env, proc *harness.Process, mailQ string, rebuild bool) {
	env.T.Helper()
	p := &Projection{DB: proc.Pool(), Broker: proc.MustDial(), MailQueue: mailQ, Points: proc.Points, Log: logTo(env, proc.Name)}
	proc.Go(func(ctx context.Context) error {
		if rebuild {
			if err := p.Rebuild(ctx); err != nil {
				return err
			}
		}
		return p.Run(ctx)
	})
}

func logTo(env *harness.Env, actor string) func(string, ...any) {
	return func(format string, args ...any) { env.Log(actor, format, args...) }
}
