// Do not edit: this test shows the failure.

package acks

import (
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

// TestChaos runs seeded evenings of Billing: a few orders, a card processor that fails some of them a few times in a
// row, sometimes a malformed BillOrder among them, one or two Billing instances (OS processes), and crashes read off
// the wire (right after a delivery, as a charge is recorded, right after it is recorded, just before an ack), each
// dead instance restarted. Whatever happens: every order is charged, the malformed one does not loop, and every
// delivery ends up settled; without a crash, every order is charged exactly once. A crash after a charge was
// recorded and before its ack makes the broker redeliver it, and Billing charges it again: that is lab 5's problem.
func TestChaos(t *testing.T) {
	chaos.Run(t, chaos.Battery{Seed: 300, Runs: 8, Scenario: evening})
}

// evening is one seeded schedule of TestChaos.
func evening(env *harness.Env, s *chaos.Schedule) {
	env.Exec(Schema)
	queue := env.Name("billing")
	c := newCards(env)
	n := s.Between(2, 5, "orders")
	var want []string
	for i := 1; i <= n; i++ {
		id := shop.OrderID(i)
		want = append(want, id)
		if s.Chance(40, "the card processor fails %s", id) {
			c.fail(id, s.Between(1, 4, "failures in a row"))
		}
	}
	malformed := s.Chance(30, "a malformed BillOrder comes among them")
	instances := s.Between(1, 2, "Billing instances")
	var billing []*harness.Process
	for i := 1; i <= instances; i++ {
		proc := startBilling(env, fmt.Sprintf("billing-%d", i), queue, c)
		if s.Chance(60, "billing-%d crashes once", i) {
			m := fmt.Sprintf("m-%d", s.Between(1, n, ""))
			nth := s.Between(1, n, "")
			s.CrashOn(proc, fault.AfterDeliveryOf(m, 1), fault.BeforeCommitTo("charges", nth),
				fault.AfterCommitTo("charges", nth), fault.BeforeAckOf(m))
		}
		billing = append(billing, proc)
	}

	sales := env.Publisher("sales")
	for i, id := range want {
		if malformed && i == len(want)/2 {
			sales.Raw("", queue, amqp.Publishing{MessageId: "m-bad", Type: "BillOrder", ContentType: shop.ContentType,
				DeliveryMode: amqp.Persistent, Body: []byte(`{"order_id": `)})
		}
		sales.SendWithID(fmt.Sprintf("m-%d", i+1), "", queue, shop.BillOrder{OrderID: id, Cents: 1000 + i})
	}
	done := func() bool {
		return len(distinct(chargedOrders(env))) == len(want) && env.Idle(queue)
	}
	crashes := 0
	for round := 0; round <= instances; round++ {
		env.Settle(func() bool { return done() || anyDead(billing) }, queue)
		restarted := restartDead(env, queue, billing, c)
		if restarted == 0 {
			break
		}
		crashes += restarted
	}
	env.Settle(done, queue)

	got := chargedOrders(env)
	if crashes > 0 {
		// A crash after a charge was recorded and before its ack made it through redelivers that order, and Billing
		// charges it again: at-least-once, lab 5's problem. Here every order must be charged, duplicates or not.
		env.ExactlyOnce(charged.Because("%d Billing instance(s) crashed and were restarted", crashes), want, distinct(got))
	} else {
		env.ExactlyOnce(charged.Because("nothing crashed"), want, got)
	}
	if n := env.Deliveries("m-bad"); n > loopLimit {
		env.Fail(story.Stalled, "the malformed message m-bad was delivered %d times and keeps coming back", n)
	}
	if !env.WaitDrained(queue) {
		env.Fail(story.Stalled, "every order was charged, but Billing's queue still holds messages or unacked deliveries")
	}
}

// restartDead replaces every dead instance with a new process of the same name, once the broker has dropped its
// consumer, and returns how many it restarted.
func restartDead(env *harness.Env, queue string, billing []*harness.Process, c *cards) int {
	env.T.Helper()
	restarted := 0
	for i, proc := range billing {
		if !proc.Dead() {
			continue
		}
		env.Eventually(func() bool { // the broker has dropped the dead instances' consumers
			_, consumers, err := env.QueueDepth(queue)
			return err == nil && consumers <= alive(billing)
		})
		billing[i] = startBilling(env, baseName(proc.Name), queue, c)
		restarted++
	}
	return restarted
}

func anyDead(procs []*harness.Process) bool { return alive(procs) < len(procs) }

func alive(procs []*harness.Process) int {
	n := 0
	for _, p := range procs {
		if !p.Dead() {
			n++
		}
	}
	return n
}

func distinct(ids []string) []string {
	var out []string
	for _, id := range ids {
		if len(out) == 0 || out[len(out)-1] != id {
			out = append(out, id)
		}
	}
	return out
}

// baseName is a process's name without its restart count: "billing-1#2" → "billing-1".
func baseName(name string) string {
	if i := strings.IndexByte(name, '#'); i >= 0 {
		return name[:i]
	}
	return name
}
