// Do not edit: this test shows the failure.

package saga

import (
	"fmt"
	"testing"
	"time"

	"msglabs/shared/chaos"
	"msglabs/shared/fault"
	"msglabs/shared/harness"
	"msglabs/shared/shop"
)

const (
	// chaosSeed is the lab's first chaos schedule (bin/checker chaos 10 --seed S replays another).
	chaosSeed = 1000
	// chaosRuns is how many schedules the stage runs by default: each takes about half a second.
	chaosRuns = 8
	// chaosTimeout is the payment timeout in the chaos stage.
	chaosTimeout = 250 * time.Millisecond
	// chaosRestarts is how many times a schedule restarts a crashed policy instance.
	chaosRestarts = 2
	// chaosBound caps how long a schedule waits for the shop to come to rest.
	chaosBound = 4 * time.Second
)

// What happens to an order in a chaos schedule.
type ending int

const (
	paidInTime ending = iota // placed and billed, in some order: it ships
	neverPaid                // placed only: it is cancelled, its stock released
	paidLate                 // placed, cancelled, then billed: it is refunded
)

// chaosOrder is one order of a schedule: its ending and the events the test publishes for it.
type chaosOrder struct {
	id     string
	ending ending
	events []shop.Message // published at once, in this order
	twice  int            // index of an event published twice (its copy has the same message id), or -1
	late   bool           // its OrderBilled has been published after its release
}

// The chaos stage: two or three orders, each paid in time (its events in a random order, one of them maybe twice),
// never paid, or paid after it was cancelled; one or two policy instances, one of them dying at a point of its own
// traffic (as a save commits, as it receives an event, as it acks one, right after the broker confirmed a command)
// and restarted; saves that fail. Every order paid in time must ship once and nothing else; every order never paid
// must be cancelled once (stock released); every order paid late must be cancelled once and refunded once, never
// shipped.
func TestChaos(t *testing.T) {
	chaos.Run(t, chaos.Battery{Seed: chaosSeed, Runs: chaosRuns, Scenario: func(env *harness.Env, s *chaos.Schedule) {
		w := newWorld(env)
		orders := planSaga(s)
		n := s.Between(1, 2, "")
		s.Note("%d policy instance(s)", n)
		var names []string
		var policies []*harness.Process
		for i := range n {
			names = append(names, fmt.Sprintf("policy-%c", 'a'+i))
			policies = append(policies, w.startPolicyWith(names[i], nil, chaosTimeout))
		}
		o := orders[s.Intn(len(orders))]
		s.CrashOn(policies[0],
			fault.BeforeCommitTo("shipping_sagas", s.Between(1, 3, "")),
			fault.AfterDeliveryOf(eventID(o.id, 0), 1),
			fault.BeforeAckOf(eventID(o.id, 0)),
			fault.AfterConfirmOf("ship-"+o.id),
			fault.AfterConfirmOf("release-"+o.id))
		if s.Chance(30, "the database fails the next save(s) of a saga") {
			s.FailWrites(env, "shipping_sagas", 2)
		}
		for _, o := range orders {
			for i, m := range o.events {
				w.events.SendWithID(eventID(o.id, i), w.top.Events, m.MessageType(), m)
				if i == o.twice {
					w.events.SendWithID(eventID(o.id, i), w.top.Events, m.MessageType(), m)
				}
			}
		}
		w.runSaga(orders, names, policies)
		w.judgeSaga(orders)
	}})
}

// eventID is the message id of an order's ith event, the same for its copies.
func eventID(orderID string, i int) string { return fmt.Sprintf("%s-e%d", orderID, i+1) }

// planSaga makes two or three orders and the events of each.
func planSaga(s *chaos.Schedule) []*chaosOrder {
	var out []*chaosOrder
	n := s.Between(2, 3, "orders")
	for i := 1; i <= n; i++ {
		id := shop.OrderID(i)
		placed := shop.OrderPlaced{OrderID: id, Customer: "ann", Cents: orderCents}
		o := &chaosOrder{id: id, ending: ending(s.Intn(3)), twice: -1}
		switch o.ending {
		case paidInTime:
			billed := shop.OrderBilled{OrderID: id, Cents: orderCents}
			labels := []string{"OrderPlaced", "OrderBilled"}
			both := []shop.Message{placed, billed}
			for _, j := range s.Order(id+"'s events", labels) {
				o.events = append(o.events, both[j])
			}
			if s.Chance(40, "one of %s's events is published twice", id) {
				o.twice = s.Intn(len(o.events))
			}
		case neverPaid:
			s.Note("%s is placed and never paid", id)
			o.events = []shop.Message{placed}
		case paidLate:
			s.Note("%s is placed, and paid once it was cancelled", id)
			o.events = []shop.Message{placed}
		}
		out = append(out, o)
	}
	return out
}

// runSaga waits until the shop has come to rest, publishing each late payment once its order was cancelled, and
// restarting a policy instance that crashed.
func (w *world) runSaga(orders []*chaosOrder, names []string, policies []*harness.Process) {
	w.env.T.Helper()
	restarts := 0
	for {
		w.env.EventuallyWithin(chaosBound, func() bool {
			w.payLate(orders)
			return w.atRest(orders) || anyDead(policies)
		})
		if w.atRest(orders) || restarts >= chaosRestarts || !anyDead(policies) {
			return
		}
		for i, p := range policies {
			if p.Dead() {
				w.env.WaitConsuming(w.top.Policy, len(policies)-1)
				before := len(policies) - 1
				policies[i] = w.startPolicyAmong(names[i], before)
				restarts++
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

// startPolicyAmong restarts the policy instance called name beside n others, waiting until all consume.
func (w *world) startPolicyAmong(name string, n int) *harness.Process {
	w.env.T.Helper()
	proc := w.startPolicyWith(name, nil, chaosTimeout)
	w.env.WaitConsuming(w.top.Policy, n+1)
	return proc
}

// payLate publishes the OrderBilled of every order paid late whose stock has been released.
func (w *world) payLate(orders []*chaosOrder) {
	for _, o := range orders {
		if o.ending == paidLate && !o.late && contains(w.warehouse.got(), o.id) {
			paid := shop.OrderBilled{OrderID: o.id, Cents: orderCents}
			w.events.SendWithID(eventID(o.id, 1), w.top.Events, paid.MessageType(), paid)
			o.late = true
		}
	}
}

// atRest reports whether every order has had what it deserves and nothing is left to happen: no event waiting, no
// timeout pending, nothing unacked.
func (w *world) atRest(orders []*chaosOrder) bool {
	for _, o := range orders {
		switch o.ending {
		case paidInTime:
			if !contains(w.shipping.got(), o.id) {
				return false
			}
		case neverPaid:
			if !contains(w.warehouse.got(), o.id) {
				return false
			}
		case paidLate:
			if !o.late || !contains(w.billing.got(), o.id) {
				return false
			}
		}
	}
	return w.env.MustDepth(w.top.Timeouts) == 0 && w.idle()
}

// judgeSaga checks the lab's invariants: each order shipped, released and refunded exactly as its ending says.
func (w *world) judgeSaga(orders []*chaosOrder) {
	w.env.T.Helper()
	var ship, release, refund []string
	for _, o := range orders {
		switch o.ending {
		case paidInTime:
			ship = append(ship, o.id)
		case neverPaid:
			release = append(release, o.id)
		case paidLate:
			release = append(release, o.id)
			refund = append(refund, o.id)
		}
	}
	w.env.ExactlyOnce(shipped, ship, w.shipping.got())
	w.env.ExactlyOnce(released, release, w.warehouse.got())
	w.env.ExactlyOnce(refunded, refund, w.billing.got())
}
