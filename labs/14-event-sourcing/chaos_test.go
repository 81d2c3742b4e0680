// Do not edit: this is the lab's chaos stage (bin/checker chaos 14).

package sourcing

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"msglabs/shared/chaos"
	"msglabs/shared/fault"
	"msglabs/shared/harness"
	"msglabs/shared/story"
)

// chaosSeed is the first schedule's seed; run i uses chaosSeed+i (bin/checker chaos 14 --seed S replays one).
const chaosSeed = 1400

// TestChaos throws seeded fault schedules at the store, the projection and the rebuild: a few orders, two writers
// racing on one of them (two items, or an item and the shipment), the projection dying once or twice on a commit or
// a publish, writes the database refuses, and sometimes a rebuild a month later, which may die halfway, with an order
// shipping while no projection runs. Whatever happened, every stream keeps every change a writer was told was made
// and no item after its shipment, every summary adds up to its events, and every shipped order is e-mailed once.
func TestChaos(t *testing.T) {
	chaos.Run(t, chaos.Battery{Seed: chaosSeed, Runs: 8, Scenario: chaosScenario})
}

// chaosPlan is one run's choices, all made up front, before any traffic.
type chaosPlan struct {
	orders      []string
	items       map[string]int // items recorded for each order before the race
	race        []writerPlan   // the two racing writers on o-1, in the order they are let go
	shipped     []string       // orders the warehouse ships (besides a racing shipment)
	deaths      []fault.Trigger
	refuse      string // the table whose writes the database refuses ("" for none)
	refusals    int
	rebuild     bool
	lateShip    string // an order shipped while no projection runs, before the rebuild ("" for none)
	aMonth      bool   // the rebuild comes a month later
	rebuildDies bool
}

type writerPlan struct {
	name string
	args harness.Args
}

func chaosScenario(env *harness.Env, s *chaos.Schedule) {
	plan := planChaos(s)
	w := newWorld(env)
	deaths := slices.Clone(plan.deaths)
	arm := func(p *harness.Process) {
		if len(deaths) > 0 {
			p.CrashOn(deaths[0])
			deaths = deaths[1:]
		}
	}
	p := w.startArmed(false, arm)
	if plan.refuse != "" {
		env.FailWrites(plan.refuse, plan.refusals)
	}
	for i, id := range plan.orders {
		changes := []Change{OrderPlaced{Customer: fmt.Sprintf("customer-%d", i+1), Cents: 1000 * (i + 1)}}
		for k := range plan.items[id] {
			changes = append(changes, ItemAdded{SKU: fmt.Sprintf("sku-%d", k+1), Cents: 100 * (k + 1)})
		}
		record(env, id, changes...)
	}
	told := raceWriters(env, plan.race)
	for _, id := range plan.shipped {
		record(env, id, OrderShipped{})
	}
	p = w.keepUp(p, arm, false, plan.orders...)

	if plan.rebuild {
		p.Kill()
		if plan.aMonth {
			w.clock.advance(aMonth)
			env.Log("test", "a month later (the Mailer's clock moved on 30 days)")
		}
		if plan.lateShip != "" {
			record(env, plan.lateShip, OrderShipped{})
		}
		env.Exec(`UPDATE order_summaries SET cents = 0`)
		rebuilding := w.startArmed(true, func(p *harness.Process) {
			if plan.rebuildDies {
				p.CrashOn(fault.AfterCommitTo("order_summaries", 1))
			}
		})
		w.keepUp(rebuilding, arm, true, plan.orders...)
	}

	judgeStreams(env, plan.race, told)
	w.judgeSummaries(fmt.Sprintf("chaos run with seed %d", s.Seed()), plan.orders...)
	w.judgeEmails(shippedOrders(env, plan.orders), fmt.Sprintf("chaos run with seed %d", s.Seed()))
}

func planChaos(s *chaos.Schedule) chaosPlan {
	n := s.Between(2, 3, "orders")
	plan := chaosPlan{items: map[string]int{}}
	for i := range n {
		id := fmt.Sprintf("o-%d", i+1)
		plan.orders = append(plan.orders, id)
		plan.items[id] = s.Intn(2)
	}
	addBook := writerPlan{"sales", harness.Args{"order": "o-1", "do": "add", "sku": "book", "cents": "1500"}}
	addWrap := writerPlan{"support", harness.Args{"order": "o-1", "do": "add", "sku": "gift-wrap", "cents": "300"}}
	ship := writerPlan{"warehouse", harness.Args{"order": "o-1", "do": "ship"}}
	rivals := []writerPlan{addWrap, addBook}
	if s.Chance(50, "o-1: the warehouse ships it while customer service adds gift-wrap") {
		rivals = []writerPlan{addWrap, ship}
	} else {
		s.Note("o-1: Sales adds a book while customer service adds gift-wrap")
	}
	for _, i := range s.Order("the two writers append", []string{rivals[0].name, rivals[1].name}) {
		plan.race = append(plan.race, rivals[i])
	}
	for _, id := range plan.orders[1:] {
		if s.Chance(70, "the warehouse ships %s", id) {
			plan.shipped = append(plan.shipped, id)
		}
	}
	triggers := []func(n int) fault.Trigger{
		func(n int) fault.Trigger { return fault.AfterCommitTo("order_summaries", n) },
		func(n int) fault.Trigger { return fault.BeforeCommitTo("order_summaries", n) },
		func(n int) fault.Trigger { return fault.AfterCommitTo("projection_checkpoints", n) },
		func(n int) fault.Trigger { return fault.BeforeCommitTo("projection_checkpoints", n) },
		func(n int) fault.Trigger { return fault.BeforePublishOf(fault.Msg{Type: "SendEmail"}).Nth(n) },
	}
	deaths := s.Between(1, 2, "")
	s.Note("the projection dies %d time(s)", deaths)
	for i := range deaths {
		t := triggers[s.Intn(len(triggers))](s.Between(1, 3, ""))
		s.Note("projection #%d dies %s", i+1, t)
		plan.deaths = append(plan.deaths, t)
	}
	if s.Chance(40, "the database refuses writes to one table") {
		plan.refuse = []string{"order_summaries", "projection_checkpoints"}[s.Intn(2)]
		plan.refusals = s.Between(1, 2, "")
		s.Note("the next %d write(s) to %s fail", plan.refusals, plan.refuse)
	}
	plan.rebuild = s.Chance(50, "the read model is rebuilt by a new deployment")
	if plan.rebuild {
		plan.aMonth = s.Chance(70, "the rebuild comes a month after the e-mails")
		unshipped := slices.DeleteFunc(slices.Clone(plan.orders[1:]), func(id string) bool {
			return slices.Contains(plan.shipped, id)
		})
		if len(unshipped) > 0 && s.Chance(60, "%s ships while no projection runs", unshipped[0]) {
			plan.lateShip = unshipped[0]
		}
		plan.rebuildDies = s.Chance(40, "the rebuild dies right after its first commit to the read model")
	}
	return plan
}

// raceWriters runs the two writers: both read the order, then they are let go one after the other, in plan order.
// It returns what each was told ("" for done).
func raceWriters(env *harness.Env, plan []writerPlan) []string {
	writers := make([]*writer, len(plan))
	for i, wp := range plan {
		writers[i] = startWriter(env, wp.name, wp.args)
	}
	for _, w := range writers {
		w.waitLoaded()
	}
	told := make([]string, len(writers))
	for i, w := range writers {
		w.letGo()
		told[i] = w.told()
	}
	return told
}

// keepUp is catchUp with faults: every projection it starts is armed by arm before it runs. After a rebuild it waits
// for the read model to add up too (the checkpoints may be at the end before the rebuild is done); the verdict on the
// read model is judgeSummaries'.
func (w *world) keepUp(p *harness.Process, arm func(*harness.Process), rebuilt bool, orderIDs ...string) *harness.Process {
	w.env.T.Helper()
	done := func() bool {
		return caughtUp(w.env, orderIDs...) && (!rebuilt || summariesRight(w.env, orderIDs...))
	}
	for restarts := 0; ; restarts++ {
		w.env.Eventually(func() bool { return p.Dead() || done() })
		if !p.Dead() {
			if !caughtUp(w.env, orderIDs...) {
				w.env.Fail(story.Stalled, "the projection did not catch up with %v within %v (%s)",
					orderIDs, harness.Patience, describeCheckpoints(w.env, orderIDs...))
			}
			return p
		}
		if restarts == maxRestarts {
			w.env.Fail(story.Stalled, "the projection died %d times in a row before it caught up with %v: %v",
				restarts+1, orderIDs, p.Err())
		}
		p = w.startArmed(false, arm)
	}
}

// summariesRight reports whether every order's summary is what its events add up to.
func summariesRight(env *harness.Env, orderIDs ...string) bool {
	for _, id := range orderIDs {
		o := replayStream(env, id)
		if summaryOf(env, id) != (summary{found: true, items: len(o.Items), cents: o.Cents, status: o.Status}) {
			return false
		}
	}
	return true
}

// judgeStreams fails the run unless o-1's stream holds every change a racing writer was told was made, and no item
// after its shipment.
func judgeStreams(env *harness.Env, plan []writerPlan, told []string) {
	env.T.Helper()
	stream := eventsOf(env, "o-1")
	held := "o-1's stream holds: " + strings.Join(stream, ", ")
	shippedAt := slices.IndexFunc(stream, func(e string) bool { return strings.HasSuffix(e, "OrderShipped") })
	for i, wp := range plan {
		want := "OrderShipped"
		if wp.args["do"] == "add" {
			want = "ItemAdded " + wp.args["sku"]
		}
		at := slices.IndexFunc(stream, func(e string) bool { return strings.HasSuffix(e, want) })
		switch {
		case told[i] == "" && at < 0:
			env.FailWith(story.Lost, []string{held}, "%s was told %q was recorded in order o-1's stream, and it "+
				"never was", wp.name, want)
		case wp.args["do"] == "add" && shippedAt >= 0 && at > shippedAt:
			env.FailWith(story.Lost, []string{held}, "item %s was added to order o-1 after it shipped: it will "+
				"never reach the customer", wp.args["sku"])
		}
	}
}

// shippedOrders are the orders whose stream holds an OrderShipped.
func shippedOrders(env *harness.Env, orderIDs []string) []string {
	var out []string
	for _, id := range orderIDs {
		if slices.ContainsFunc(eventsOf(env, id), func(e string) bool { return strings.HasSuffix(e, "OrderShipped") }) {
			out = append(out, id)
		}
	}
	return out
}
