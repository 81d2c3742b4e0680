// Do not edit: this is the lab's chaos stage (bin/checker chaos 6).

package outbox

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"msglabs/shared/chaos"
	"msglabs/shared/fault"
	"msglabs/shared/harness"
	"msglabs/shared/story"
)

// The chaos stage's default: the first schedule's seed (run i uses chaosSeed+i; bin/checker chaos 6 --seed S replays
// one) and how many schedules run. A seed's remainder by 3 picks the kind of run, so every three seeds in a row try
// all three.
const (
	chaosSeed = 600
	chaosRuns = 9
)

// TestChaos throws seeded fault schedules at Sales: orders placed over HTTP while an instance dies right after or
// just before a commit (of an order, of the relay's delete), writes the database refuses; several relays at once,
// one of them slow, with a transaction that commits late; a relay whose network goes silent without being cut.
// Every stored order must be charged exactly once, nothing that rolled back may be announced, and with nothing
// crashing every event is published exactly once.
func TestChaos(t *testing.T) {
	chaos.Run(t, chaos.Battery{Seed: chaosSeed, Runs: chaosRuns, Scenario: func(env *harness.Env, s *chaos.Schedule) {
		w := worldIn(env)
		w.startBilling()
		switch s.Seed() % 3 {
		case 0:
			s.Note("kind of run: orders placed over HTTP while a Sales instance dies")
			crashWhilePlacing(w, s)
		case 1:
			s.Note("kind of run: several relays share the outbox, with nothing crashing")
			relaysShareTheOutbox(w, s)
		default:
			s.Note("kind of run: a relay's network goes silent, without being cut")
			silentNetwork(w, s)
		}
	}})
}

// crashWhilePlacing places orders through one or two Sales instances, one of which dies on a commit of its own (an
// order's or the relay's), sometimes with the database refusing writes to the outbox; the dead one is restarted.
func crashWhilePlacing(w *world, s *chaos.Schedule) {
	orders := s.Between(2, 4, "orders")
	instances := s.Between(1, 2, "Sales instances")
	refuse := s.Chance(30, "the database refuses writes to the outbox")
	names := make([]string, instances)
	procs := make([]*salesProc, instances)
	for i := range names {
		names[i] = fmt.Sprintf("sales-%d", i+1)
		procs[i] = w.startSales(names[i])
	}
	victim := s.Intn(instances)
	s.Note("%s is the instance the schedule crashes", names[victim])
	s.CrashOn(procs[victim].proc,
		fault.AfterCommitTo("orders", s.Between(1, orders, "")),
		fault.BeforeCommitTo("orders", s.Between(1, orders, "")),
		fault.AfterCommitTo("outbox", s.Between(1, orders+1, "")),
		fault.BeforeCommitTo("outbox", s.Between(1, orders+1, "")))
	if refuse {
		s.FailWrites(w.env, "outbox", 2)
	}
	for i := 1; i <= orders; i++ {
		at := (i - 1) % instances
		if procs[at].proc.Dead() {
			procs[at] = w.restartSales(procs[at])
		}
		w.placeAndWait(procs[at], fmt.Sprintf("o-%d", i))
	}
	for i, p := range procs {
		if p.proc.Dead() {
			procs[i] = w.restartSales(p)
		}
	}
	w.env.SettleFor(relayQuiet, func() bool { return w.allCharged() }, w.queue)
	w.judge("whatever the chaos schedule below did to Sales")
}

// relaysShareTheOutbox runs two or three relays on one outbox; orders are stored by the test in a few transactions,
// one of which commits late, and one relay is slow (its broker link, or the database's first delete).
func relaysShareTheOutbox(w *world, s *chaos.Schedule) {
	relays := s.Between(2, 3, "relays")
	first, late := s.Between(3, 15, "orders stored at once"), s.Between(1, 5, "orders in a transaction that commits late")
	slowConfirms := s.Chance(50, "one relay's broker link delivers confirms late")
	delay := time.Duration(s.Between(1, 4, "")) * 50 * time.Millisecond
	slowDeletes := !slowConfirms || s.Chance(50, "the first delete of relayed rows is slow")
	var procs []*salesProc
	for i := 1; i <= relays; i++ {
		procs = append(procs, w.startSales(fmt.Sprintf("sales-%d", i)))
	}
	if slowConfirms {
		s.Note("sales-1's confirms arrive %v late", delay)
		procs[0].proc.Slow(fault.Down, delay)
	}
	if slowDeletes {
		w.slowFirstDelete()
	}
	lateOrders, soonOrders := makeOrders(1, late), makeOrders(late+1, late+first)
	held := w.beginEvents(lateOrders...)
	w.storeEvents(soonOrders...)
	if !w.env.Eventually(func() bool { return w.delivered(soonOrders) }) {
		held.rollback()
		w.judge("orders were stored while another transaction was still open")
	}
	held.commit()
	all := append(lateOrders, soonOrders...)
	w.env.SettleFor(relayQuiet, func() bool { return w.relayed(all) }, w.queue)
	w.env.Settle(func() bool { return false }, w.queue) // a copy published late still shows up
	w.judge("several relays shared the outbox; one transaction committed after later ones")
	w.judgePublishedOnce(all, "several relays shared the outbox, and nothing crashed")
}

// silentNetwork starts one relay and makes its network to the broker silent (what it sends is lost, nobody is told),
// stores orders, and once that relay has published into the silence starts a second, healthy one. The orders must
// reach Billing within harness.Patience: the silent relay has to give its rows up.
func silentNetwork(w *world, s *chaos.Schedule) {
	orders := makeOrders(1, s.Between(1, 5, "orders"))
	silent := w.startSales("sales-1")
	silent.proc.BlackholeBroker()
	w.env.Log("test", "sales-1's network to the broker goes silent: what it sends is lost, and nobody is told")
	w.storeEvents(orders...)
	if !w.env.Eventually(func() bool { return w.publishedBy(silent.proc.Name) }) {
		w.env.Fail(story.Stalled, "sales-1's relay never published the %d order(s) waiting in the outbox: %v", len(orders), silent.proc.Err())
	}
	w.startSales("sales-2")
	defer silent.proc.CutBroker() // the operating system notices in the end; until then nothing does
	if !w.env.Eventually(func() bool { return w.allCharged() }) && w.env.Int(`SELECT count(*) FROM outbox`) == 0 {
		w.judge("sales-1's relay published the orders into a silent network, where nothing arrived, and their outbox " +
			"rows are gone: no confirm came, and a confirm that never came is not a yes")
	}
	if !w.allCharged() {
		w.env.Fail(story.Stalled, "the orders %v never reached Billing within %v: sales-1's relay published them into a "+
			"silent network and kept waiting for confirms that never come, holding its rows, so the healthy sales-2 "+
			"could not take them (%d row(s) still in the outbox)", orders, harness.Patience, w.env.Int(`SELECT count(*) FROM outbox`))
	}
	w.env.SettleFor(relayQuiet, func() bool { return w.relayed(orders) }, w.queue)
	w.judge("sales-1's network to the broker went silent mid-batch")
}

// restartSales starts the Sales instance p was (dead by now) again: "sales-1" after "sales-1" or "sales-1#2".
func (w *world) restartSales(p *salesProc) *salesProc {
	w.env.T.Helper()
	name, _, _ := strings.Cut(p.proc.Name, "#")
	return w.startSales(name)
}

// placeAndWait places an order and waits for the answer, or for s to die.
func (w *world) placeAndWait(s *salesProc, orderID string) {
	w.env.T.Helper()
	select {
	case status := <-w.placeOrder(context.Background(), s, orderID):
		if status != http.StatusCreated && !s.proc.Dead() {
			w.env.Log("test", "%s answered %d for %s (a refused write, most likely)", s.proc.Name, status, orderID)
		}
	case <-s.proc.Crashed():
	case <-time.After(harness.Patience + time.Second):
		w.env.T.Fatalf("placing %s got no answer within %v", orderID, harness.Patience)
	}
}

// allCharged reports whether every stored order was charged and the outbox is empty.
func (w *world) allCharged() bool {
	stored, charged := w.env.Strings(`SELECT id FROM orders`), w.chargedOrders()
	for _, id := range stored {
		if !slices.Contains(charged, id) {
			return false
		}
	}
	return w.env.Int(`SELECT count(*) FROM outbox`) == 0 && w.env.Unacked() == 0
}

// delivered reports whether every order's event has been delivered to Billing.
func (w *world) delivered(orderIDs []string) bool {
	for _, id := range orderIDs {
		if w.env.Deliveries(messageID(id)) == 0 {
			return false
		}
	}
	return true
}

// publishedBy reports whether actor has published anything.
func (w *world) publishedBy(actor string) bool {
	for _, e := range w.env.Timeline.Entries() {
		if e.Kind == story.Publish && e.Actor == actor {
			return true
		}
	}
	return false
}
