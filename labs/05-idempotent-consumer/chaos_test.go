// Do not edit: this is the lab's chaos stage (bin/checker chaos 5).

package idempotent

import (
	"fmt"
	"testing"

	"msglabs/shared/chaos"
	"msglabs/shared/fault"
	"msglabs/shared/harness"
)

// The chaos stage's default: the first schedule's seed (run i uses chaosSeed+i; bin/checker chaos 5 --seed S replays
// one) and how many schedules run, about a third of a second each.
const (
	chaosSeed = 500
	chaosRuns = 12
	// roundQuiet is how long a round may be silent on the wire before its last wait calls it idle.
	roundQuiet = 5 * harness.Quiet
)

// TestChaos throws seeded fault schedules at Billing: a few orders, some published twice and some with a second
// message of their own, one or two Billing instances (lined up at their first write, sometimes), one of them dying on
// a commit, an ack or a delivery, writes the database refuses, then a restart. Whatever happened, every message is
// charged exactly once and comes to rest.
func TestChaos(t *testing.T) {
	chaos.Run(t, chaos.Battery{Seed: chaosSeed, Runs: chaosRuns, Scenario: chaosScenario})
}

// planned is one message of a chaos run.
type planned struct {
	id, order string
	cents     int
	copies    int
}

// chaosScenario is one chaos run: every choice is made up front, from the schedule, before any traffic.
func chaosScenario(env *harness.Env, s *chaos.Schedule) {
	shop := shopIn(env)
	plan := planMessages(s)
	names := []string{"billing"}
	if s.Between(1, 2, "Billing instances") == 2 {
		names = []string{"billing-a", "billing-b"}
	}
	lineUp := len(names) == 2 && plan[0].copies == 2 &&
		s.Chance(50, "the database lines up the first writes of the two instances (both hold a copy of m-1)")
	victim := names[s.Intn(len(names))]
	s.Note("%s is the instance the schedule crashes", victim)
	refuse, refused := s.Chance(40, "the database refuses writes to one table"), ""
	if refuse {
		refused = []string{"charges", "processed_messages"}[s.Intn(2)]
		s.Note("the refused table is %s", refused)
	}

	if lineUp {
		shop.lineUpFirstWrites()
	}
	procs := map[string]*harness.Process{}
	for _, name := range names {
		procs[name] = shop.startBilling(name)
	}
	n := len(plan)
	s.CrashOn(procs[victim],
		fault.AfterCommitTo("charges", s.Between(1, n, "")),
		fault.BeforeCommitTo("charges", s.Between(1, n, "")),
		fault.AfterCommitTo("processed_messages", s.Between(1, n, "")),
		fault.BeforeAckOf(plan[s.Intn(n)].id),
		fault.AfterDeliveryOf(plan[s.Intn(n)].id, 1))
	if refuse {
		s.FailWrites(env, refused, 2)
	}
	for _, m := range plan {
		for range m.copies {
			shop.place(m.id, m.order, m.cents)
		}
	}

	shop.env.Settle(func() bool { return procs[victim].Dead() || shop.done(1) }, shop.queue)
	if procs[victim].Dead() {
		shop.waitCrash(procs[victim], "died of something other than the crash it was given")
		shop.startBilling(victim)
	}
	// A round may end quiet on the wire while a charge is still on its way into the ledger (a busy database, where
	// the timeline does not look): it is given roundQuiet, not Quiet, before it is called idle. Only a failing round
	// waits that long; a passing one ends the moment every copy is done.
	settled := shop.env.SettleFor(roundQuiet, func() bool { return shop.done(1) }, shop.queue)
	shop.judgeLedger("whatever the chaos schedule below did to Billing")
	shop.mustComeToRest(settled)
}

// planMessages picks 2 to 4 messages: m-i for o-i, or a second message for the order before it, each published once
// or twice.
func planMessages(s *chaos.Schedule) []planned {
	n := s.Between(2, 4, "messages")
	plan := make([]planned, n)
	for i := range plan {
		id := fmt.Sprintf("m-%d", i+1)
		plan[i] = planned{id: id, order: fmt.Sprintf("o-%d", i+1), cents: 1000 + 100*i, copies: 1}
		if i > 0 && s.Chance(25, "%s is a second message for %s", id, plan[i-1].order) {
			plan[i].order = plan[i-1].order
		}
		if s.Chance(30, "%s is published twice", id) {
			plan[i].copies = 2
		}
	}
	return plan
}
