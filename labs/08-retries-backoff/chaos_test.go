// Do not edit: this test shows the failure.

package retries

import (
	"fmt"
	"testing"
	"time"

	"msglabs/shared/chaos"
	"msglabs/shared/fault"
	"msglabs/shared/harness"
	"msglabs/shared/shop"
	"msglabs/shared/story"
)

const (
	// chaosSeed is the lab's first chaos schedule (bin/checker chaos 8 --seed S replays another).
	chaosSeed = 800
	// chaosRuns is how many schedules the stage runs by default: each takes about half a second.
	chaosRuns = 8
	// chaosMaxCalls bounds the gateway calls for one order: a crash can leave two copies of an order going round.
	chaosMaxCalls = 2 * maxCalls
	// chaosRestarts is how many times a schedule restarts a crashed Billing.
	chaosRestarts = 2
)

// The chaos stage: a few orders, each taken at once, turned away a few times, or refused for good; one or two
// Billing instances, one of them crashing at a point of its own traffic (as it passes a retry on, right after the
// broker confirmed a copy, as it acks, as it receives an order), restarted; a BillOrder published twice; a slow link.
// Every order the gateway takes must be billed once, every refused one must wait in the error queue after its
// delayed retries, no copy may change its id, and no try may be acked before the broker confirmed its copy.
func TestChaos(t *testing.T) {
	chaos.Run(t, chaos.Battery{Seed: chaosSeed, Runs: chaosRuns, Scenario: func(env *harness.Env, s *chaos.Schedule) {
		w := newWorld(env)
		plan := planOrders(w, s)
		instances := s.Between(1, 2, "")
		s.Note("%d Billing instance(s)", instances)
		var billing []*harness.Process
		for i := range instances {
			plan.names = append(plan.names, fmt.Sprintf("billing-%c", 'a'+i))
			billing = append(billing, w.startBillingAmong(plan.names[i], i+1))
		}
		victim := plan.orders[s.Intn(len(plan.orders))]
		id := billID(victim.OrderID)
		s.CrashOn(billing[0],
			fault.BeforePublishOf(fault.Msg{ID: id}),
			fault.AfterConfirmOf(id),
			fault.BeforeAckOf(id),
			fault.AfterDeliveryOf(id, s.Between(1, DelayedRetries, "")))
		if s.Chance(30, "billing-a's link to the broker is slow") {
			s.Slow(billing[0], 40*time.Millisecond)
		}
		for _, o := range plan.orders {
			w.send(o)
			if s.Chance(25, "%s is published twice", billID(o.OrderID)) {
				w.send(o)
			}
		}
		w.runUntilDone(plan, billing)
		w.judgeChaos(plan)
	}})
}

// chaosPlan is what a schedule does with its orders: which the gateway takes (after how many tries) and which it
// refuses for good.
type chaosPlan struct {
	orders   []shop.BillOrder
	payable  []string
	refused  []string
	names    []string // the Billing instances, as first started
	restarts int
}

func planOrders(w *world, s *chaos.Schedule) *chaosPlan {
	p := &chaosPlan{}
	n := s.Between(2, 4, "orders")
	for i := 1; i <= n; i++ {
		id := shop.OrderID(i)
		p.orders = append(p.orders, shop.BillOrder{OrderID: id, Cents: 1000 * i})
		switch s.Intn(3) {
		case 0:
			s.Note("the gateway takes %s at once", id)
			p.payable = append(p.payable, id)
		case 1:
			k := s.Between(1, DelayedRetries, "")
			s.Note("the gateway turns %s away %d time(s), then takes it", id, k)
			w.gw.turnAway(id, k)
			p.payable = append(p.payable, id)
		default:
			s.Note("the gateway refuses %s for good", id)
			w.gw.turnAway(id, forever)
			p.refused = append(p.refused, id)
		}
	}
	return p
}

// runUntilDone waits until every order is billed or parked, restarting a Billing instance that crashed.
func (w *world) runUntilDone(p *chaosPlan, billing []*harness.Process) {
	w.env.T.Helper()
	done := func() bool { return w.allSettled(p) || w.hopeless(p) }
	for {
		w.env.EventuallyWithin(2*retryBound, func() bool { return done() || anyDead(billing) })
		if done() || p.restarts >= chaosRestarts || !anyDead(billing) {
			return
		}
		for i, b := range billing {
			if b.Dead() {
				w.env.WaitConsuming(w.queue, len(billing)-1)
				billing[i] = w.startBillingAmong(p.names[i], len(billing))
				p.restarts++
			}
		}
	}
}

func anyDead(ps []*harness.Process) bool {
	for _, p := range ps {
		if p.Dead() {
			return true
		}
	}
	return false
}

// startBillingAmong restarts the Billing instance called name beside the others, waiting until all n consume.
func (w *world) startBillingAmong(name string, n int) *harness.Process {
	w.env.T.Helper()
	proc := w.env.SpawnRole(name, "billing", harness.Args{"queue": w.queue})
	proc.On("pay", w.gw.pay)
	if !w.env.WaitConsuming(w.queue, n) {
		w.env.T.Fatalf("the restarted %s did not start consuming %q: %v", name, w.env.Short(w.queue), proc.Err())
	}
	return proc
}

// hopeless reports a broken invariant there is no point waiting on.
func (w *world) hopeless(p *chaosPlan) bool {
	if w.gw.calledMoreThan(chaosMaxCalls) != "" || w.foreignCopy() != nil {
		return true
	}
	for _, o := range p.orders {
		if w.ackedEarly(o.OrderID) != "" || w.dropped(o.OrderID) {
			return true
		}
	}
	return false
}

// allSettled reports whether every payable order is billed, every refused one was parked, and nothing is unacked.
func (w *world) allSettled(p *chaosPlan) bool {
	charged := w.env.Strings(`SELECT order_id FROM charges`)
	if len(charged) < len(p.payable) {
		return false
	}
	for _, o := range p.refused {
		if !w.parkedConfirmed(o) {
			return false
		}
	}
	for _, o := range p.orders {
		if w.inFlight(o.OrderID) > 0 {
			return false
		}
	}
	return w.env.Unacked() == 0
}

// inFlight is how many copies of the order the broker still holds for a retry: the test's sends and Billing's retry
// copies, less the times a copy came back (a redelivery after a crash is the same copy again).
func (w *world) inFlight(orderID string) int {
	errorQueue := w.env.Short(ErrorQueue(w.queue))
	n := w.sent[billID(orderID)]
	for _, e := range w.billingEntries(orderID) {
		switch {
		case e.Kind == story.Publish && e.Peer != errorQueue:
			n++
		case e.Kind == story.Deliver && !e.Redelivered:
			n--
		}
	}
	return n
}

// parkedConfirmed reports whether a Billing instance published a copy of the order to the error queue and the broker
// confirmed it.
func (w *world) parkedConfirmed(orderID string) bool {
	errorQueue := w.env.Short(ErrorQueue(w.queue))
	published := map[string]bool{}
	for _, e := range w.billingEntries(orderID) {
		switch {
		case e.Kind == story.Publish && e.Peer == errorQueue:
			published[e.Actor] = true
		case e.Kind == story.Confirm && published[e.Actor]:
			return true
		}
	}
	return false
}

// calledMoreThan returns an order the gateway was called for more than n times, or "".
func (g *gateway) calledMoreThan(n int) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	for id, calls := range g.calls {
		if len(calls) > n {
			return id
		}
	}
	return ""
}

// judgeChaos checks the lab's invariants after a schedule: no storm, copies are the same message, acks follow their
// copy's confirm, every payable order billed once and never parked, every refused one parked (a crash may leave
// two copies of it there) after all its delayed retries, and never billed.
func (w *world) judgeChaos(p *chaosPlan) {
	w.env.T.Helper()
	if id := w.gw.calledMoreThan(chaosMaxCalls); id != "" {
		w.gw.failStorm(id, w.retriedAtOnceWhy(id))
	}
	w.copiesAreTheSameMessage()
	for _, o := range p.orders {
		w.confirmedBeforeAck(o.OrderID)
	}
	charged := w.env.Strings(`SELECT order_id FROM charges ORDER BY order_id`)
	w.env.ExactlyOnce(billed, p.payable, charged)
	parked := w.readErrorQueue()
	for _, o := range p.payable {
		if parked[o] > 0 {
			w.env.Fail(story.Lost, "order %s, which the gateway took in the end, was also parked in the error queue: "+
				"Billing gave up on it before its %d delayed retries were used up", o, DelayedRetries)
		}
	}
	for _, o := range p.refused {
		if parked[o] == 0 {
			w.neverParked(o)
			w.env.FailWith(story.Lost, []string{w.gw.summary(o)}, "order %s, which the gateway refuses for good, is not "+
				"in the error queue %q", o, w.env.Short(ErrorQueue(w.queue)))
		}
		if tries, most := len(w.deliveries(o)), parked[o]*(DelayedRetries+1); tries > most {
			w.env.FailWith(story.Stalled, []string{w.gw.summary(o)},
				"order %s was tried more often than its schedule allows: the broker handed it to Billing %d times (not "+
					"counting redeliveries after a crash), yet %d copy of it reached the error queue, after %d delayed "+
					"retries each: the count started over (kept in memory, and lost with a restart?)", o, tries, parked[o],
				DelayedRetries)
		}
	}
}

// readErrorQueue counts the copies of each order in the error queue (and puts them back), failing the test for a copy
// that is not the order as Sales sent it or does not count its delayed retries.
func (w *world) readErrorQueue() map[string]int {
	w.env.T.Helper()
	ch, err := w.env.Process("ops").MustDial().Channel()
	if err != nil {
		w.env.T.Fatalf("open channel: %v", err)
	}
	defer ch.Close() // puts back what it looked at
	out := map[string]int{}
	for {
		d, ok, err := ch.Get(ErrorQueue(w.queue), false) // autoAck false: only looking
		if err != nil {
			if !w.env.QueueExists(ErrorQueue(w.queue)) {
				return out
			}
			w.env.T.Fatalf("read the error queue: %v", err)
		}
		if !ok {
			return out
		}
		var order shop.BillOrder
		if err := shop.Decode(d.Body, &order); err != nil || d.MessageId != billID(order.OrderID) {
			w.env.Fail(story.Lost, "the error queue holds message %q (%q), which is not an order as Sales sent it",
				d.MessageId, d.Body)
		}
		if n := headerInt(d.Headers[RetriesHeader]); n != DelayedRetries {
			w.env.Fail(story.Lost, "order %s reached the error queue with %q = %v, not %d: it was not given all its "+
				"delayed retries, or ops cannot tell", order.OrderID, RetriesHeader, d.Headers[RetriesHeader], DelayedRetries)
		}
		out[order.OrderID]++
	}
}
