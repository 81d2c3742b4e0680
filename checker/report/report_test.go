package report

import (
	"strings"
	"testing"
	"time"

	"msglabs/checker/gotest"
	"msglabs/checker/kit"
	"msglabs/checker/lab"
)

// sample is a three-step lab.
var sample = lab.Lab{Number: 6, Slug: "06-outbox", Title: "Transactional outbox",
	Steps: []lab.Step{
		{Title: "the outbox write", Failing: []lab.Failing{{Test: "TestWrite", Marker: "LOST"}}},
		{Title: "the relay", Concept: "a relay publishes what the outbox holds", Failing: []lab.Failing{{Test: "TestRelay", Marker: "LOST"}}, Guards: []string{"TestRelayGuard"}},
		{Title: "trace propagation", Failing: []lab.Failing{{Test: "TestTrace", Marker: "GHOST"}}},
	},
	Chaos:    &lab.Chaos{Runs: 8},
	Mistakes: []lab.Mistake{{Name: "delete-first", Step: 2, Says: "the row was deleted before the confirm", Caught: lab.Failing{Test: "TestRelayGuard", Marker: "LOST"}}},
}

func result(name string, st gotest.Status, marker, story string) gotest.Result {
	return gotest.Result{Name: name, Status: st, Elapsed: 120 * time.Millisecond, Marker: marker, Story: story}
}

func failingRun() *kit.RunResult {
	write := result("TestWrite", gotest.Pass, "", "")
	relay := result("TestRelay", gotest.Fail, "LOST", "LOST: order o-1 was never published (1 placed, 0 published)\n  detail\n\ntimeline:\n  +0.001s  sales  publish o-1")
	guard := result("TestRelayGuard", gotest.Fail, "LOST", "LOST: the row went first")
	trace := result("TestTrace", gotest.Fail, "GHOST", "GHOST: a span with no parent")
	rep := &gotest.Report{Tests: []gotest.Result{write, relay, guard, trace}, Elapsed: 1900 * time.Millisecond}
	return &kit.RunResult{Lab: sample, Report: rep, Kind: gotest.Failed, Current: 2,
		Steps: []kit.StepResult{
			{Number: 1, Step: sample.Steps[0], Tests: []gotest.Result{write}, Passed: true},
			{Number: 2, Step: sample.Steps[1], Tests: []gotest.Result{relay, guard}},
			{Number: 3, Step: sample.Steps[2], Tests: []gotest.Result{trace}},
		},
		Mistakes: sample.Mistakes,
	}
}

func TestRunPresentsTheCurrentStepInFullAndTheOthersInALine(t *testing.T) {
	got := Plain(Run(failingRun(), Options{Checker: "../../bin/checker"}))
	want := `✓ step 1 of 3: the outbox write
step 2 of 3: the relay
  a relay publishes what the outbox holds
  ✗ TestRelay  120ms
      LOST: order o-1 was never published (1 placed, 0 published)
        detail

      timeline:
        +0.001s  sales  publish o-1
  ✗ TestRelayGuard  120ms
      LOST: the row went first
✗ step 3 of 3: trace propagation · TestTrace (GHOST)
this looks like a known wrong fix, delete-first: the row was deleted before the confirm
  it is step 2's concept: ` + "`../../bin/checker hint 6 --step 2`" + ` gives its next hint
✗ lab 6: step 2 of 3 failing · 1 passed, 3 failed · 1.9s
stuck? ` + "`../../bin/checker hint 6`" + ` gives a hint for step 2
`
	if got != want {
		t.Fatalf("report:\n%s\nwant:\n%s", got, want)
	}
}

func TestKindsLetTheTUIStyleEveryLine(t *testing.T) {
	kinds := map[Kind]bool{}
	for _, l := range Run(failingRun(), Options{}) {
		kinds[l.Kind] = true
		if l.Kind == "" {
			t.Fatalf("line %q has no kind", l.Text)
		}
	}
	for _, k := range []Kind{StepDone, Step, Concept, TestFail, Story, Timeline, StepLater, Mistake, VerdictFail, Next} {
		if !kinds[k] {
			t.Errorf("no line of kind %s", k)
		}
	}
}

func passingVisible() *kit.RunResult {
	res := failingRun()
	for i := range res.Report.Tests {
		res.Report.Tests[i].Status, res.Report.Tests[i].Story, res.Report.Tests[i].Marker = gotest.Pass, "", ""
	}
	res.Kind, res.Current, res.Mistakes = gotest.Passed, 0, nil
	for i := range res.Steps {
		res.Steps[i].Passed = true
		for j := range res.Steps[i].Tests {
			res.Steps[i].Tests[j].Status = gotest.Pass
		}
	}
	return res
}

func TestChaosFailureTellsTheStoryAndTheReplay(t *testing.T) {
	res := passingVisible()
	chaosRep := &gotest.Report{Tests: []gotest.Result{result("TestChaos", gotest.Fail, "DUPLICATE", "DUPLICATE: order o-3 was published twice")},
		Elapsed: 4 * time.Second}
	res.Chaos = &kit.ChaosResult{Report: chaosRep, Kind: gotest.Failed, Seed: "17", Runs: 8}
	got := Plain(Run(res, Options{}))
	for _, want := range []string{"chaos stage: 8 fault schedules from seed 17 against your code\n  ✗ TestChaos",
		"DUPLICATE: order o-3 was published twice", "  replay: `bin/checker chaos 6 --seed 17`",
		"✗ lab 6: every step's tests pass, but the chaos stage does not · 5.9s"} {
		if !strings.Contains(got, want) {
			t.Fatalf("report lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "passed ·") {
		t.Fatalf("a chaos failure reads as a pass:\n%s", got)
	}
	// The chaos library prints its own replay line: it is not repeated.
	chaosRep.Tests[0].Story += "\n\nreplay: bin/checker chaos 6 --seed 19"
	if got := Plain(Run(res, Options{})); strings.Count(got, "replay:") != 1 {
		t.Fatalf("replay line repeated:\n%s", got)
	}
}

func TestPassUnlocksAndPointsToTheFollowUp(t *testing.T) {
	res := passingVisible()
	res.Chaos = &kit.ChaosResult{Report: &gotest.Report{Tests: []gotest.Result{result("TestChaos", gotest.Pass, "", "")}, Elapsed: time.Second},
		Kind: gotest.Passed, Runs: 8}
	res.Recorded, res.Unlocked = true, []string{"lab 7", "solution 6"}
	got := Plain(Run(res, Options{}))
	want := `✓ step 1 of 3: the outbox write
✓ step 2 of 3: the relay
✓ step 3 of 3: trace propagation
✓ chaos stage: 8 fault schedules from the lab's default seed against your code, all kept their promises
✓ lab 6 passed · 3 steps · 4 tests · chaos 8 schedules · 2.9s
unlocked: lab 7, solution 6
` + "`bin/checker solution 6`" + ` shows the reference solution and the follow-up
`
	if got != want {
		t.Fatalf("report:\n%s\nwant:\n%s", got, want)
	}
}

func TestInfraAndNotCountedSayNothingWasRecorded(t *testing.T) {
	res := &kit.RunResult{Lab: sample, Infra: []kit.Infra{{Service: "RabbitMQ", Detail: "at amqp://u:***@h/: ACCESS_REFUSED", Fix: "correct the user"}}}
	got := Plain(Run(res, Options{}))
	want := "INFRA: RabbitMQ at amqp://u:***@h/: ACCESS_REFUSED; fix: correct the user\n" +
		"! lab 6 could not run: a service failed, not your code; nothing was recorded\n" +
		"`bin/checker doctor` checks the services; then `bin/checker run 6` again\n"
	if got != want {
		t.Fatalf("INFRA report:\n%s\nwant:\n%s", got, want)
	}
	res = passingVisible()
	res.NotCounted = []string{"step 2's TestRelay did not run (a sealed test must run for the lab to count)"}
	got = Plain(Run(res, Options{}))
	for _, want := range []string{"not counted: this run cannot say whether the lab passes\n  step 2's TestRelay did not run",
		"✗ lab 6: not counted; nothing was recorded"} {
		if !strings.Contains(got, want) {
			t.Fatalf("not-counted report lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "✓ lab") || strings.Contains(got, "stuck?") {
		t.Fatalf("not-counted report reads as a pass or a lab failure:\n%s", got)
	}
}

func TestBuildErrorAndPanic(t *testing.T) {
	res := &kit.RunResult{Lab: sample, Kind: gotest.BuildError, Report: &gotest.Report{Build: []string{"labs/06-outbox/relay.go:3:9: undefined: x"}}}
	got := Plain(Run(res, Options{}))
	want := "does not compile:\n    labs/06-outbox/relay.go:3:9: undefined: x\n  fix the compile error and run again.\n✗ lab 6 does not compile\n"
	if got != want {
		t.Fatalf("build report:\n%s\nwant:\n%s", got, want)
	}
	p := &gotest.Panic{Message: "assignment to entry in nil map", At: "labs/06-outbox/relay.go:5", Test: "TestWrite"}
	w := result("TestWrite", gotest.Fail, "", "")
	w.Panic = p
	res = &kit.RunResult{Lab: sample, Kind: gotest.Panicked, Current: 1, Report: &gotest.Report{Tests: []gotest.Result{w}, Panic: p},
		Steps: []kit.StepResult{{Number: 1, Step: sample.Steps[0], Tests: []gotest.Result{w}}}}
	got = Plain(Run(res, Options{}))
	for _, want := range []string{"  ✗ TestWrite  120ms\n      panic: assignment to entry in nil map\n      at labs/06-outbox/relay.go:5", "✗ lab 6 panicked in TestWrite"} {
		if !strings.Contains(got, want) {
			t.Fatalf("panic report lacks %q:\n%s", want, got)
		}
	}
}

func TestHeaderAndDuration(t *testing.T) {
	got := Plain(Header(kit.LabInfo{Lab: sample}))
	if got != "lab 6 · Transactional outbox  (labs/06-outbox)\nlab 6 is still locked (pass the lab before it first); running it anyway, each lab stands alone.\n" {
		t.Fatalf("header:\n%s", got)
	}
	for d, want := range map[time.Duration]string{340 * time.Millisecond: "340ms", 2100 * time.Millisecond: "2.1s", -time.Second: "0ms"} {
		if got := Duration(d); got != want {
			t.Errorf("Duration(%s) = %q, want %q", d, got, want)
		}
	}
}

func TestHangAndExitNameWhereTheyHappened(t *testing.T) {
	relay := result("TestRelay", gotest.Fail, "", "")
	relay.Hung = true
	rep := &gotest.Report{Tests: []gotest.Result{relay}, LogPath: "/kit/.msglabs/runs/06/last.log",
		Hang: &gotest.Hang{Test: "TestRelay", After: 12 * time.Second, At: "labs/06-outbox/relay.go:42", Func: "(*Relay).Run", State: "chan receive"}}
	res := &kit.RunResult{Lab: sample, Kind: gotest.Hung, Report: rep, Current: 2,
		Steps: []kit.StepResult{{Number: 1, Step: sample.Steps[0], Passed: true}, {Number: 2, Step: sample.Steps[1], Tests: []gotest.Result{relay}}}}
	got := Plain(Run(res, Options{Path: func(p string) string { return strings.TrimPrefix(p, "/kit/") }}))
	for _, want := range []string{"  ✗ TestRelay  120ms\n      made no progress",
		"TestRelay made no progress for 12.0s, so it was stopped: stuck at labs/06-outbox/relay.go:42 in (*Relay).Run (chan receive)",
		"the whole output of the run: .msglabs/runs/06/last.log", "✗ lab 6 hangs: TestRelay made no progress"} {
		if !strings.Contains(got, want) {
			t.Fatalf("hang report lacks %q:\n%s", want, got)
		}
	}
	rep = &gotest.Report{Exit: &gotest.Exit{Status: 3, Test: "TestWrite", Sentence: "exited with status 3 — os.Exit in your code?"}}
	res = &kit.RunResult{Lab: sample, Kind: gotest.Exited, Report: rep}
	got = Plain(Run(res, Options{}))
	for _, want := range []string{"the test binary, during TestWrite, exited with status 3 — os.Exit in your code?",
		"✗ lab 6: the test binary exited with status 3 — os.Exit in your code?"} {
		if !strings.Contains(got, want) {
			t.Fatalf("exit report lacks %q:\n%s", want, got)
		}
	}
}
