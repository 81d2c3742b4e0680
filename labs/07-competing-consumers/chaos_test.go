// Do not edit: this is the lab's chaos stage (bin/checker chaos 7).

package competing

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"msglabs/shared/chaos"
	"msglabs/shared/harness"
	"msglabs/shared/shop"
	"msglabs/shared/story"
)

// The chaos stage's default: the first schedule's seed (run i uses chaosSeed+i; bin/checker chaos 7 --seed S replays
// one) and how many schedules run. A seed's parity picks the kind of run, so two seeds in a row try both.
const (
	chaosSeed = 700
	chaosRuns = 6
)

// TestChaos throws seeded schedules at Billing and Sales: a long outage (Billing down while Sales pours a burst into
// the full queue, refused a dozen times or more in a row), and competing instances of which one is stuck on the
// payment provider while orders fail now and then. Every order is billed exactly once, Sales keeps trying at least
// every second and never gives up, and the instances that are free share the work.
func TestChaos(t *testing.T) {
	chaos.Run(t, chaos.Battery{Seed: chaosSeed, Runs: chaosRuns, Scenario: func(env *harness.Env, s *chaos.Schedule) {
		env.Exec(Schema)
		if s.Seed()%2 == 0 {
			s.Note("kind of run: a long outage while Sales sends a burst")
			longOutage(env, s)
			return
		}
		s.Note("kind of run: competing instances, one of them stuck")
		stuckInstance(env, s)
	}})
}

// longOutage keeps Billing down while Sales sends a burst two or three times what the queue may hold, until the broker
// has refused Sales 12 to 24 times, then starts one or two Billing instances.
func longOutage(env *harness.Env, s *chaos.Schedule) {
	queue := env.Name("billing")
	orders := makeOrders(s.Between(2, 3, "") * MaxBacklog)
	s.Note("a burst of %d orders", len(orders))
	refusals := s.Between(12, 24, "refusals in a row before Billing is back")
	instances := s.Between(1, 2, "Billing instances once it is back")

	sales := env.Process("sales")
	conn := sales.MustDial()
	result := make(chan error, 1)
	sales.Go(func(ctx context.Context) error {
		err := (&Sales{Queue: queue}).SendBills(ctx, conn, orders)
		result <- err
		return err
	})
	var sendErr error
	finished := false
	env.EventuallyWithin(4*harness.Patience, func() bool {
		select {
		case sendErr = <-result:
			finished = true
			return true
		default:
		}
		refused := env.Refusals(sales.Name)
		return len(refused) >= refusals || idleSince(refused) > maxRetryGap
	})
	if !finished {
		checkHeldBack(env, sales.Name, env.MustDepth(queue))
		checkKeptTrying(env, sales.Name)
	}
	var billing charges
	for n := 1; n <= instances; n++ {
		startBilling(env, queue, n, billing.charge, nil)
	}
	if !finished && env.EventuallyWithin(2*harness.Patience, func() bool {
		select {
		case sendErr = <-result:
			return true
		default:
			return false
		}
	}) {
		finished = true
	}
	if !finished {
		env.Fail(story.Stalled, "Billing is back and draining its queue, but Sales did not finish its burst within %v",
			2*harness.Patience)
	}
	env.Settle(func() bool { return len(env.Strings(`SELECT order_id FROM charges`)) == len(orders) }, queue)
	if sendErr != nil {
		env.FailWith(story.Lost, []string{fmt.Sprintf("Sales stopped sending: %v", sendErr)},
			"Sales gave up on its burst after the broker refused it %d times in a row: the rest of the orders were never sent",
			len(env.Refusals(sales.Name)))
	}
	env.ExactlyOnce(billed, orderIDs(orders), env.Strings(`SELECT order_id FROM charges`))
}

// stuckInstance lets 12 to 20 orders wait, starts two or three Billing instances, and makes the first one's payment
// provider hang on its first order until the others have billed every other order; some orders fail once.
func stuckInstance(env *harness.Env, s *chaos.Schedule) {
	queue := env.Name("billing")
	orders := makeOrders(s.Between(12, 20, "orders waiting"))
	instances := s.Between(2, 3, "Billing instances")
	failing := map[string]bool{}
	for _, o := range orders[1:] {
		if s.Chance(15, "the payment provider declines %s once", o.OrderID) {
			failing[o.OrderID] = true
		}
	}
	sendBills(env, queue, orders)

	gate, stuck := make(chan struct{}), make(chan string, 1)
	first := startBilling(env, queue, 1, stuckUntil(gate, stuck), nil)
	stuckOn := waitStuck(env, first, stuck)
	others := &declineOnce{failing: failing}
	for n := 2; n <= instances; n++ {
		startBilling(env, queue, n, others.charge, nil)
	}
	rest := len(orders) - 1
	done := func() bool { return others.billed() == rest }
	settleBeside(env, done, queue)
	if !done() {
		env.Fail(story.Stalled, "%d free Billing instance(s) billed %d of the %d orders waiting beside %s, which was stuck "+
			"on %s: %d were out, unacked, in the stuck instance's hands", instances-1, others.billed(), rest, first.Name,
			stuckOn, env.Unacked())
	}
	close(gate)
	env.Settle(func() bool { return len(env.Strings(`SELECT order_id FROM charges`)) == len(orders) }, queue)
	env.ExactlyOnce(billed, orderIDs(orders), env.Strings(`SELECT order_id FROM charges`))
}

// declineOnce is a payment provider that declines each order in failing once and counts the distinct orders it
// charged. It is safe for concurrent use.
type declineOnce struct {
	mu       sync.Mutex
	failing  map[string]bool
	declined map[string]bool
	charged  map[string]bool
}

func (p *declineOnce) charge(_ context.Context, order shop.BillOrder) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.failing[order.OrderID] && !p.declined[order.OrderID] {
		if p.declined == nil {
			p.declined = map[string]bool{}
		}
		p.declined[order.OrderID] = true
		return fmt.Errorf("payment provider: card declined for %s (injected, once)", order.OrderID)
	}
	if p.charged == nil {
		p.charged = map[string]bool{}
	}
	p.charged[order.OrderID] = true
	return nil
}

func (p *declineOnce) billed() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.charged)
}
