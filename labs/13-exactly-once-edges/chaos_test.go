// Do not edit: this test shows the failure.

package edges

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"msglabs/shared/chaos"
	"msglabs/shared/fault"
	"msglabs/shared/harness"
	"msglabs/shared/story"
)

// The chaos stage (bin/checker chaos 13): every run picks a schedule from its seed and throws it at all three edges.
// At the front door: a few checkouts, each sent one to three times (some as a double click, one attempt per Sales
// instance at once), a Sales instance dying as it commits an order or right after, failed writes to orders, and a
// key reused for another basket. Behind it: the phone desk writing some rows twice, the bridge dying at a commit, a
// publish or a confirm, failed writes to the desk's table, Billing dying before its ack, at its commit or as it
// publishes OrderBilled, a slowed broker link; dead services are restarted. The invariants are the
// lab's: one order per checkout and every attempt told it, a reused key refused, every phone order charged and shipped
// exactly once, nothing left in the table.
// chaosQuiet is how long the phone path may be silent on the wire before a chaos round calls it idle: many of the
// bridge's polls of its table (bridgePoll), which the wire does not show.
const chaosQuiet = 25 * bridgePoll

func TestChaos(t *testing.T) {
	chaos.Run(t, chaos.Battery{Seed: 1300, Runs: 8, Scenario: func(env *harness.Env, s *chaos.Schedule) {
		frontDoorChaos(env, s)
		phoneChaos(env, s)
	}})
}

// browserTries is how often the customer's browser sends one attempt before it gives up: again after no answer or a
// 5xx, at the other instance. Six tries are more than the faults of one run can fail.
const browserTries = 6

// frontDoorChaos throws double clicks, retries, a dying Sales instance, failed writes and a reused key at two Sales
// instances, and judges every checkout.
func frontDoorChaos(env *harness.Env, s *chaos.Schedule) {
	env.T.Helper()
	env.Exec(SalesSchema)
	n := s.Between(2, 3, "checkouts")
	type plan struct {
		key      string
		req      OrderRequest
		attempts int
		double   bool
	}
	plans := make([]plan, n)
	for i := range plans {
		key := fmt.Sprintf("k-%d", i+1)
		plans[i] = plan{key: key, req: OrderRequest{Customer: "ann", Cents: 1000 * (i + 1)}, attempts: s.Between(1, 3, "")}
		s.Note("checkout %s is sent %d time(s)", key, plans[i].attempts)
		if plans[i].attempts > 1 {
			plans[i].double = s.Chance(50, "its first two attempts are a double click, one at each instance")
		}
	}
	// A double click is two attempts held just before they write until both are there, so the race happens every
	// time the schedule says so, not when the machine happens to be fast.
	gates := map[string]*fault.Barrier{}
	for _, p := range plans {
		if p.double {
			gates[p.key] = fault.NewBarrier(2, holdLimit, nil)
		}
	}
	hold := func(key string) {
		if g := gates[key]; g != nil {
			g.Wait()
		}
	}
	a, b := startSales(env, "sales-a", hold), startSales(env, "sales-b", hold)
	if s.Chance(60, "sales-a dies while writing an order") {
		s.CrashOn(a.proc, fault.BeforeCommitTo("orders", s.Between(1, n, "")), fault.AfterCommitTo("orders", s.Between(1, n, "")))
	}
	var fails *harness.WriteFault
	if s.Chance(30, "writes to orders fail") {
		fails = s.FailWrites(env, "orders", 2)
	}
	reuse := s.Chance(40, "the key of %s is then reused for another basket", plans[0].key)

	customer := newBrowser(env)
	apis := []*salesAPI{a, b}
	told := map[string][]answer{}
	for _, p := range plans {
		answers := make([]answer, p.attempts)
		next := 0
		if p.double {
			var wg sync.WaitGroup
			for i := range 2 {
				wg.Add(1)
				go func() { defer wg.Done(); answers[i] = customer.checkout(apis, i, p.key, p.req) }()
			}
			wg.Wait()
			next = 2
		}
		for i := next; i < p.attempts; i++ {
			answers[i] = customer.checkout(apis, i, p.key, p.req)
		}
		told[p.key] = answers
	}
	var reused answer
	other := OrderRequest{Customer: "ann", Cents: 99900}
	if reuse {
		reused = customer.checkout(apis, 1, plans[0].key, other)
	}

	for _, p := range plans {
		judgeCheckout(env, p.key, told[p.key], fmt.Sprintf("checkout %s was sent %d time(s) through two Sales "+
			"instances%s", p.key, p.attempts, faults(a.proc, fails)))
	}
	if reuse {
		judgeReused(env, plans[0].key, reused, other)
	}
}

// faults says what the front door's chaos did, for a verdict.
func faults(a *harness.Process, fails *harness.WriteFault) string {
	out := ""
	if a.Dead() {
		out += "; sales-a died"
	}
	if fails != nil && fails.Failed() > 0 {
		out += fmt.Sprintf("; %d write(s) to orders failed (injected)", fails.Failed())
	}
	return out
}

// judgeReused fails the test unless the request that reused key for another basket was refused and made no order.
func judgeReused(env *harness.Env, key string, reused answer, other OrderRequest) {
	env.T.Helper()
	told := []string{"it was told: " + reused.String()}
	if made := env.Strings(`SELECT id FROM orders WHERE cents = $1`, other.Cents); len(made) > 0 {
		env.FailWith(story.Duplicate, told, "checkout %s was turned into a second order: the request that reused its key "+
			"for another basket made one; it must be refused (422 Unprocessable Entity) and make no order", key)
	}
	if reused.OrderID != "" {
		env.FailWith(story.Crosstalk, told, "the request that reused checkout %s's key for another basket was given the "+
			"first basket's answer, as if it were a retry; it must be refused (422 Unprocessable Entity)", key)
	}
	if reused.Status != http.StatusUnprocessableEntity {
		env.T.Fatalf("the request that reused checkout %s's key for another basket got: %s; want 422 "+
			"Unprocessable Entity", key, reused)
	}
}

// checkout is the browser sending one attempt of a checkout, starting at instance first: again at the other instance
// after no answer or a 5xx (at a live one: a load balancer stops sending to a dead instance), up to browserTries
// times. It returns the last answer.
func (b *browser) checkout(apis []*salesAPI, first int, key string, req OrderRequest) answer {
	var a answer
	for try := range browserTries {
		api := apis[(first+try)%len(apis)]
		if api.proc.Dead() {
			api = apis[(first+try+1)%len(apis)] // the load balancer sends it to the one that lives
		}
		a = b.post(api, key, req)
		if a.Err == nil && a.Status < http.StatusInternalServerError {
			return a
		}
	}
	return a
}

// phoneChaos throws duplicate rows, crashing and failing bridges, a crashing Billing and a slow link at the phone
// desk's path to Shipping, restarts what died, and judges every phone order.
func phoneChaos(env *harness.Env, s *chaos.Schedule) {
	env.T.Helper()
	env.Exec(BillingSchema)
	env.Exec(ShippingSchema)
	env.Exec(LegacySchema)
	events, billingQ, shippingQ := env.Name("events"), env.Name("billing"), env.Name("shipping")
	declare(env, events, billingQ, "OrderPlaced")
	declare(env, events, shippingQ, "OrderBilled")

	rows := s.Between(3, 5, "phone orders")
	var pairs, want []string
	for i := 1; i <= rows; i++ {
		msg, order := fmt.Sprintf("L-%d", i), fmt.Sprintf("o-%d", i)
		want = append(want, order)
		pairs = append(pairs, msg, order)
		if s.Chance(25, "the desk writes %s twice", msg) {
			pairs = append(pairs, msg, order)
		}
	}
	crashBridge := s.Chance(70, "the bridge dies")
	crashBilling := s.Chance(60, "Billing dies")
	failDeletes := s.Chance(30, "writes to phone_orders fail")
	slow := s.Chance(25, "Billing's broker link is slow")

	startShipping(env, shippingQ)
	billing := startBilling(env, "billing", events, billingQ)
	if crashBilling {
		s.CrashOn(billing, fault.BeforeAckOf(fmt.Sprintf("L-%d", s.Between(1, rows, ""))),
			fault.AfterCommitTo("charges", s.Between(1, rows, "")),
			fault.BeforePublishOf(fault.Msg{Type: "OrderBilled"}).Nth(s.Between(1, rows, "")))
	}
	if slow {
		s.Slow(billing, 40*time.Millisecond)
	}
	deskWrites(env, pairs...)
	if failDeletes {
		s.FailWrites(env, "phone_orders", 3)
	}
	// One bridge at a time (restarted when it dies): which of two bridges takes which row is a race, and a seed must
	// replay the same story. TestTwoBridgesForwardEachRowOnce runs two at once.
	procs := map[string]*harness.Process{"billing": billing, "bridge": startBridge(env, "bridge", events, nil)}
	if crashBridge {
		s.CrashOn(procs["bridge"], fault.AfterCommitTo("phone_orders", s.Between(1, rows, "")),
			fault.BeforeCommitTo("phone_orders", s.Between(1, rows, "")),
			fault.BeforePublishOf(fault.Msg{Type: "OrderPlaced"}).Nth(s.Between(1, rows, "")),
			fault.AfterConfirmOf(fmt.Sprintf("L-%d", s.Between(1, rows, ""))))
	}

	done := func() bool {
		return env.Int(`SELECT count(*) FROM phone_orders`) == 0 && env.Int(`SELECT count(*) FROM charges`) >= rows &&
			env.Int(`SELECT count(*) FROM parcels`) >= rows && idle(env, billingQ, shippingQ)
	}
	for round := 0; round < restartRounds && !done(); round++ {
		// Settle, not Eventually: an order the code lost makes done() false for good, and the wait must end when the
		// shop has gone quiet (the bridge polls its table every bridgePoll, so a quiet of many polls means idle).
		env.SettleFor(chaosQuiet, func() bool { return done() || anyDead(procs) }, billingQ, shippingQ)
		restartDead(env, procs, events, billingQ)
	}
	env.Settle(func() bool { return false }, billingQ, shippingQ) // copies still on their way

	what := "phone orders went through the bridge, Billing and Shipping under the schedule below"
	env.ExactlyOnce(charged.Because("%s", what), want, env.Strings(`SELECT order_id FROM charges`), leftInTable(env))
	env.ExactlyOnce(shipped.Because("%s", what), want, env.Strings(`SELECT order_id FROM parcels`))
	if left := env.Int(`SELECT count(*) FROM phone_orders`); left > 0 {
		env.Fail(story.Stalled, "%d phone order row(s) were never taken from the desk's table; %s", left, what)
	}
}

// restartRounds bounds how often the phone chaos restarts what died (each round waits at most harness.Patience).
const restartRounds = 4

func anyDead(procs map[string]*harness.Process) bool {
	for _, p := range procs {
		if p.Dead() {
			return true
		}
	}
	return false
}

// restartDead starts again every service that died (crashed, or stopped on an error), as its supervisor would.
func restartDead(env *harness.Env, procs map[string]*harness.Process, events, billingQ string) {
	env.T.Helper()
	for _, name := range []string{"billing", "bridge"} {
		p, ok := procs[name]
		if !ok || !p.Dead() {
			continue
		}
		if name == "billing" {
			brokerNoticed(env, billingQ)
			procs[name] = startBilling(env, name, events, billingQ)
			continue
		}
		procs[name] = startBridge(env, name, events, nil)
	}
}
