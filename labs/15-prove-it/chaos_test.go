// Do not edit: this is the lab's chaos stage (bin/checker chaos 15).

package proof

import (
	"fmt"
	"testing"
	"time"

	"msglabs/shared/chaos"
	"msglabs/shared/explore"
	"msglabs/shared/harness"
)

// chaosSeed is the first schedule's seed; run i uses chaosSeed+i (bin/checker chaos 15 --seed S replays one).
const chaosSeed = 1500

// chaosSamples is how many random schedules each chaos run draws from its deeper world.
const chaosSamples = 1500

// The deeper bound of the chaos stage: more copies, more bills, more instances, and up to two crashes per schedule.
// That world has far too many schedules to try them all, so each run draws chaosSamples of them at random from its
// seed (the same seed draws the same schedules).
const (
	chaosCrashes      = 2
	chaosCrashPercent = 15
)

// TestChaos is the explorer's deeper bound plus the real thing: each run draws random schedules of a bigger world (m-1
// delivered two or three times, m-2 a second bill of o-1, m-3 for o-2 once or twice, one Billing instance per copy, up
// to two crashes per schedule), then runs Billing for real on PostgreSQL and RabbitMQ, one or two instances, one of
// them crashing at a step the schedule picks. Every bill is charged once and announced once, under an id of its own.
func TestChaos(t *testing.T) {
	chaos.Run(t, chaos.Battery{Seed: chaosSeed, Runs: 8, Scenario: chaosScenario})
}

func chaosScenario(env *harness.Env, s *chaos.Schedule) {
	deep := deeperWorld(s)
	s.Note("the explorer draws %d random schedules of: %s", chaosSamples, deep.name)
	opts := explore.Options{MaxCrashes: deep.maxCrashes, StepTimeout: blockedLimit, CrashPercent: chaosCrashPercent}
	res, err := explore.Sample(opts, chaosSamples, uint64(s.Seed()), deep.model)
	judgeExploration(env, deep, res, err)
	realChaos(newRealRun(env), s)
}

// deeperWorld picks the copies of each bill; each copy is a Billing instance of its own.
func deeperWorld(s *chaos.Schedule) world {
	m1copies := s.Between(2, 3, "")
	m3copies := s.Between(1, 2, "")
	s.Note("m-1 is delivered %d times, m-3 %d time(s)", m1copies, m3copies)
	var deliveries []bill
	for range m1copies {
		deliveries = append(deliveries, m1)
	}
	deliveries = append(deliveries, m2)
	for range m3copies {
		deliveries = append(deliveries, m3)
	}
	name := fmt.Sprintf("m-1 delivered %d times, m-2 (a second bill of o-1) once, m-3 (o-2) %d time(s), on %d "+
		"Billing instances at once, up to %d crashes", m1copies, m3copies, len(deliveries), chaosCrashes)
	return world{name: name, deliveries: deliveries, maxCrashes: chaosCrashes}
}

// realChaos runs Billing for real: one or two instances, the bills sent (m-1 maybe twice, m-2 maybe), one instance
// crashing at a step and visit the schedule picks; a dead instance is restarted, and the bills are judged.
func realChaos(run *realRun, s *chaos.Schedule) {
	names := []string{"billing"}
	if s.Between(1, 2, "") == 2 {
		names = []string{"billing-a", "billing-b"}
	}
	s.Note("on PostgreSQL and RabbitMQ: %d Billing instance(s)", len(names))
	bills := []bill{m1}
	sent := []bill{m1}
	if s.Chance(60, "m-1 is sent twice") {
		sent = append(sent, m1)
	}
	if s.Chance(60, "m-2 (a second bill of o-1) is sent") {
		bills, sent = append(bills, m2), append(sent, m2)
	}
	bills, sent = append(bills, m3), append(sent, m3)
	victim := names[s.Intn(len(names))]
	procs := map[string]*harness.Process{}
	for _, name := range names {
		procs[name] = run.startBilling(name)
	}
	s.CrashAt(procs[victim], []string{StepCheckInbox, StepCharge, StepPublish, StepRecordInbox, StepAck}, 3)
	run.send(sent...)

	recorded := func() bool { return run.env.Int(`SELECT count(*) FROM inbox`) == len(bills) }
	run.env.Settle(func() bool { return procs[victim].Dead() || recorded() }, run.queue)
	if procs[victim].Dead() {
		select { // it died: wait until the process is gone before its successor starts
		case <-procs[victim].Exited():
		case <-time.After(harness.Patience):
		}
		run.startBilling(victim)
	}
	run.judge(bills, fmt.Sprintf("chaos run with seed %d", s.Seed()))
}
