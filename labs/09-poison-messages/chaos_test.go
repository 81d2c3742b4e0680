// Do not edit: this test shows the failure.

package poison

import (
	"context"
	"fmt"
	"strings"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"

	"msglabs/shared/chaos"
	"msglabs/shared/fault"
	"msglabs/shared/harness"
	"msglabs/shared/shop"
	"msglabs/shared/story"
)

const (
	// chaosSeed is the lab's first chaos schedule (bin/checker chaos 9 --seed S replays another).
	chaosSeed = 900
	// chaosRuns is how many schedules the stage runs by default: each takes well under a second.
	chaosRuns = 8
	// chaosRestarts is how many times a schedule restarts a crashed Billing.
	chaosRestarts = 2
	// chaosReplays is how many replays a schedule runs at most to empty the error queue of what can be charged now.
	chaosReplays = 3
)

// What the gateway and the message make of an order in a chaos schedule.
type fate int

const (
	charges  fate = iota // the gateway takes it at once
	blips                // the gateway fails once or twice, then takes it
	isDown               // the gateway is down for it until the replay
	poisoned             // the body cannot be decoded
	refused              // the order can never be charged
)

// The chaos stage: a few BillOrders, each good, hit by a gateway blip, stuck behind a gateway that is down, malformed
// or refused; one or two Billing processes, one of them dying at a point of its own traffic (as it parks a message,
// right after the broker confirmed a copy, as it acks, as it receives a message), restarted; a message published
// twice. Then the gateway is back and an operator replays what it can charge now, the replay itself dying at times.
// Every chargeable order must be charged once, every poison and refused one wait in the error queue after one try
// with its diagnosis, no delivery may be acked before the broker confirmed its copy, and the replays must leave the
// rest of the error queue alone.
func TestChaos(t *testing.T) {
	chaos.Run(t, chaos.Battery{Seed: chaosSeed, Runs: chaosRuns, Scenario: func(env *harness.Env, s *chaos.Schedule) {
		w := newWorld(env)
		plan := w.planChaos(s)
		n := s.Between(1, 2, "")
		s.Note("%d Billing instance(s)", n)
		for i := range n {
			plan.names = append(plan.names, fmt.Sprintf("billing-%c", 'a'+i))
			plan.billing = append(plan.billing, w.startBillingAmong(plan.names[i], i+1))
		}
		victim := plan.ids[s.Intn(len(plan.ids))]
		s.CrashOn(plan.billing[0],
			fault.BeforePublishOf(fault.Msg{ID: victim, Key: w.errorQueue}),
			fault.AfterConfirmOf(victim),
			fault.BeforeAckOf(victim),
			fault.AfterDeliveryOf(victim, 1))
		replayDies := s.Chance(50, "the first replay dies on its own traffic")
		for i, id := range plan.ids {
			w.sales.Raw("", w.queue, plan.messages[i])
			if s.Chance(25, "%s is published twice", id) {
				w.sales.Raw("", w.queue, plan.messages[i])
			}
		}
		w.runChaos(plan)
		w.judgeParked(plan)
		w.replayChaos(plan, replayDies, s)
		w.judgeCharged(plan)
	}})
}

// chaosPlan is one schedule's orders and Billing instances.
type chaosPlan struct {
	ids      []string
	messages []amqp.Publishing
	fates    map[string]fate
	orders   map[string]string // message id → order id
	names    []string
	billing  []*harness.Process
	restarts int
}

// planChaos makes 3 to 5 orders, each with its fate, at most one of them stuck behind a gateway that is down (it
// takes lab 8's whole schedule).
func (w *world) planChaos(s *chaos.Schedule) *chaosPlan {
	p := &chaosPlan{fates: map[string]fate{}, orders: map[string]string{}}
	down := false
	n := s.Between(3, 5, "orders")
	for i := 1; i <= n; i++ {
		id, order := w.env.NextMessageID(), shop.OrderID(i)
		f := fate(s.Intn(5))
		if f == isDown && down {
			f = charges
		}
		down = down || f == isDown
		msg := w.publishing(id, shop.BillOrder{OrderID: order, Cents: orderCents})
		switch f {
		case charges:
			s.Note("%s (%s) is good", id, order)
		case blips:
			k := s.Between(1, 2, "")
			s.Note("%s (%s): the gateway fails %d time(s), then takes it", id, order, k)
			w.gw.failNext(order, k)
		case isDown:
			s.Note("%s (%s): the gateway is down for it until the replay", id, order)
			w.gw.failNext(order, -1)
		case poisoned:
			s.Note("%s (%s) cannot be decoded", id, order)
			msg.Body = []byte(fmt.Sprintf(`{"order_id":%q,"amount_cents":"forty-two"}`, order))
		case refused:
			s.Note("%s (%s) is for -500 cents", id, order)
			msg = w.publishing(id, shop.BillOrder{OrderID: order, Cents: -500})
		}
		p.ids, p.messages = append(p.ids, id), append(p.messages, msg)
		p.fates[id], p.orders[id] = f, order
	}
	return p
}

// startBillingAmong starts the Billing instance called name beside the others, waiting until all n consume.
func (w *world) startBillingAmong(name string, n int) *harness.Process {
	w.env.T.Helper()
	proc := w.env.SpawnRole(name, "billing", harness.Args{"queue": w.queue, "error-queue": w.errorQueue})
	proc.On("charge", w.gw.charge)
	if !w.env.WaitConsuming(w.queue, n) {
		w.env.T.Fatalf("%s did not start consuming %q: %v", name, w.env.Short(w.queue), proc.Err())
	}
	return proc
}

// runChaos waits until Billing is done with every message, restarting an instance that crashed.
func (w *world) runChaos(p *chaosPlan) {
	w.env.T.Helper()
	done := func() bool { return w.quiet(p) || w.ackedEarly() != "" }
	for {
		w.env.EventuallyWithin(settleBound, func() bool { return done() || anyDead(p.billing) })
		if done() || p.restarts >= chaosRestarts || !anyDead(p.billing) {
			return
		}
		for i, b := range p.billing {
			if b.Dead() {
				w.env.WaitConsuming(w.queue, len(p.billing)-1)
				p.billing[i] = w.startBillingAmong(p.names[i], len(p.billing))
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

// quiet reports whether Billing is done: every chargeable order charged, every other one parked, no copy waiting for
// a retry, nothing unacked.
func (w *world) quiet(p *chaosPlan) bool {
	charged := map[string]bool{}
	for _, o := range w.gw.charges() {
		charged[o] = true
	}
	for _, id := range p.ids {
		switch p.fates[id] {
		case charges, blips:
			if !charged[p.orders[id]] {
				return false
			}
		default:
			if !w.parkedConfirmed(id) {
				return false
			}
		}
		if w.waitingForRetry(id, p) > 0 {
			return false
		}
	}
	return w.env.Idle(w.queue)
}

// parkedConfirmed reports whether a Billing instance published a copy of the message to the error queue and the
// broker confirmed it.
func (w *world) parkedConfirmed(id string) bool {
	errorQueue := w.env.Short(w.errorQueue)
	published := map[string]bool{}
	for _, e := range w.billingEntries(id) {
		switch {
		case e.Kind == story.Publish && e.Peer == errorQueue:
			published[e.Actor] = true
		case e.Kind == story.Confirm && published[e.Actor]:
			return true
		}
	}
	return false
}

// waitingForRetry is how many copies of a message wait in a delay queue: the ones Billing published there, less
// those that came back.
func (w *world) waitingForRetry(id string, p *chaosPlan) int {
	errorQueue := w.env.Short(w.errorQueue)
	n := 0
	for _, e := range w.billingEntries(id) {
		switch {
		case e.Kind == story.Publish && e.Peer != errorQueue:
			n++
		case e.Kind == story.Deliver && !e.Redelivered:
			n--
		}
	}
	return n + w.sends(id)
}

// sends is how many times Sales published a message.
func (w *world) sends(id string) int {
	n := 0
	for _, e := range w.env.Timeline.Entries() {
		if e.Kind == story.Publish && e.Message == id && strings.HasPrefix(e.Actor, "sales") {
			n++
		}
	}
	return n
}

// judgeParked checks what Billing did before any replay: acks after confirms, every poison and refused message in
// the error queue after one try (a crash may leave two copies there), with its diagnosis; every order stuck behind
// the gateway parked after all its retries; no good order parked.
func (w *world) judgeParked(p *chaosPlan) {
	w.env.T.Helper()
	w.parkedBeforeAck()
	parked := map[string][]amqp.Delivery{}
	for _, d := range w.look(w.errorQueue) {
		parked[d.MessageId] = append(parked[d.MessageId], d)
	}
	for _, id := range p.ids {
		f, copies := p.fates[id], parked[id]
		switch {
		case (f == charges || f == blips) && len(copies) > 0:
			w.env.Fail(story.Lost, "message %s (%s), which the gateway takes, was parked in the error queue", id, p.orders[id])
		case f == charges || f == blips:
		case len(copies) == 0:
			w.env.Fail(story.Lost, "message %s (%s) vanished: it is in neither %q nor the error queue %q", id,
				p.orders[id], w.env.Short(w.queue), w.env.Short(w.errorQueue))
		case f == isDown:
			w.checkDiagnosis(copies[0], 1+DelayedRetries)
		default:
			w.checkDiagnosis(copies[0], 1)
			if tries := len(w.tries(id)); tries > len(copies) {
				w.triedOnce(id, fmt.Sprintf("%s, which can never be charged", p.orders[id]))
			}
		}
	}
}

// replayChaos brings the gateway back and replays every order that can be charged now, the first replay dying on its
// own traffic when the schedule says so, until none of them is left in the error queue.
func (w *world) replayChaos(p *chaosPlan, firstDies bool, s *chaos.Schedule) {
	w.env.T.Helper()
	var stuck []string
	for _, id := range p.ids {
		if p.fates[id] == isDown {
			stuck = append(stuck, id)
			w.gw.failNext(p.orders[id], 0)
		}
	}
	if len(stuck) == 0 {
		return
	}
	for i := 0; i < chaosReplays && w.stillParked(stuck); i++ {
		if i == 0 && firstDies {
			proc := w.env.Process("replay")
			s.CrashOn(proc, fault.BeforePublishOf(fault.Msg{Key: w.queue}), fault.BeforeAckOf(stuck[0]))
			r := &Replayer{Broker: proc.MustDial(), ErrorQueue: w.errorQueue}
			proc.Go(func(ctx context.Context) error { _, err := r.Replay(ctx, stuck); return err })
			w.env.Eventually(func() bool { return proc.Dead() })
			w.env.EventuallyWithin(requeueBound, func() bool { return w.stillParked(stuck) || w.chargedAll(stuck, p) })
			continue
		}
		if _, err := w.replayWith(stuck, nil); err != nil {
			w.env.Fail(story.Stalled, "the replay of %v failed: %v", stuck, err)
		}
	}
	w.env.Settle(func() bool { return w.chargedAll(stuck, p) && w.quiet(p) }, w.queue)
}

// stillParked reports whether any of the messages waits in the error queue.
func (w *world) stillParked(ids []string) bool {
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	for _, d := range w.look(w.errorQueue) {
		if want[d.MessageId] {
			return true
		}
	}
	return false
}

func (w *world) chargedAll(ids []string, p *chaosPlan) bool {
	charged := map[string]bool{}
	for _, o := range w.gw.charges() {
		charged[o] = true
	}
	for _, id := range ids {
		if !charged[p.orders[id]] {
			return false
		}
	}
	return true
}

// judgeCharged checks the end: every order the gateway takes (after the replay, for those stuck behind it) charged
// exactly once, and the replays left every poison and refused message in the error queue.
func (w *world) judgeCharged(p *chaosPlan) {
	w.env.T.Helper()
	var want []string
	keep := map[string]bool{}
	for _, id := range p.ids {
		switch p.fates[id] {
		case charges, blips, isDown:
			want = append(want, p.orders[id])
		default:
			keep[id] = true
		}
	}
	w.env.ExactlyOnce(charged, want, w.gw.charges())
	left := map[string]bool{}
	for _, d := range w.look(w.errorQueue) {
		left[d.MessageId] = true
	}
	for id := range keep {
		if !left[id] {
			w.env.Fail(story.Lost, "message %s (%s, which can never be charged) is no longer in the error queue after the "+
				"replay of other messages", id, p.orders[id])
		}
	}
}
