package tui

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"msglabs/checker/diagram"
	"msglabs/checker/gotest"
	"msglabs/checker/kit"
	"msglabs/checker/kittest"
	"msglabs/checker/lab"
	"msglabs/checker/progress"
	"msglabs/checker/report"
	"msglabs/shared/infra"
)

func TestRunShowsLiveProgressWithTimersThenTheReport(t *testing.T) {
	f := newFixture(t, sampleKit(t), false)
	f.startRun(1)
	if f.screen() != scrRun || !f.m.run.running {
		t.Fatalf("r did not start a run: screen %d, running %v", f.screen(), f.m.run.running)
	}
	gen := f.m.run.gen
	wantIn(t, f.view(), "lab 1 · First lab  (labs/01-first)", "building the tests 0ms")
	f.send(runEventMsg{gen: gen, ev: gotest.Event{Kind: gotest.Built}})
	f.send(runEventMsg{gen: gen, ev: gotest.Event{Kind: gotest.TestStarted, Test: "TestLost"}})
	f.clock.Add(1200 * time.Millisecond)
	f.send(runTickMsg{gen: gen})
	wantIn(t, f.view(), "… TestLost  1.2s", "running the tests 1.2s")
	res := pass("TestFine")
	f.send(runEventMsg{gen: gen, ev: gotest.Event{Kind: gotest.TestFinished, Test: "TestFine", Result: &res}})
	wantIn(t, f.view(), "✓ TestFine  10ms")
	// The watchdog fired: the row says how long the test went without finishing.
	f.clock.Add(10800 * time.Millisecond)
	f.send(runEventMsg{gen: gen, ev: gotest.Event{Kind: gotest.TestHanging, Test: "TestLost"}})
	wantIn(t, f.view(), "TestLost still running after 12.0s: stopping it to see where it is stuck")
	// A message of an older run is ignored.
	f.send(runDoneMsg{gen: gen - 1, err: errors.New("old")})
	if !f.m.run.running {
		t.Fatal("an old run's result ended the current run")
	}
	f.send(runDoneMsg{gen: gen, res: failedResult(mustLab(t, f.m, 1))})
	v := f.view()
	wantIn(t, v, "✗ lab 1: step 1 of 1 failing · 1 passed, 1 failed · 1.5s", "step 1 of 1: the order arrives",
		"Fixed must say true", "✗ TestLost  20ms", "LOST: order o-17 went wrong", "timeline:", "+0.001s  orders  publish o-17",
		"stuck? `bin/checker hint 1` gives a hint for step 1", "d: the failing test as a sequence diagram", "[✗]  step 1 of 1")
	wantNotIn(t, v, "running the tests", "still running")
	// Recorded by the UI's own kit, as the command line records it.
	k, _ := kit.Open(f.root, false)
	if st := k.Progress.Lab("01-first"); st.LastRun != progress.RunFail {
		t.Fatalf("the failed run was not recorded: %+v", st)
	}
	f.press("esc")
	if f.screen() != scrList {
		t.Fatal("esc did not go back to the list")
	}
	f.pressOnly("enter")
	f.send(openMsg{to: scrRun, msg: showLabMsg{lab: 1}})
	if f.screen() != scrRun || f.m.run.running {
		t.Fatal("enter on the lab just run should show its result, not run it again")
	}
}

// TestRunRendersTheReportTheCLIPrints: the run screen shows every line report.Run gives the command line, in the
// same order and words, only styled (ASCII here) and wrapped; the verdict goes to the status line.
func TestRunRendersTheReportTheCLIPrints(t *testing.T) {
	f := newSizedFixture(t, steppedKit(t), false, 200, 60)
	l := mustLab(t, f.m, 3)
	res := judged(l, 2*time.Second, pass("TestFirst"), fail("TestGuard", "DUPLICATE", "order o-2 was billed twice"),
		fail("TestSecond", "STALLED", "order o-3 waits forever"))
	res.Mistakes = []lab.Mistake{l.Mistakes[0]}
	f.send(selectLabMsg{lab: 3})
	f.startRun(3)
	f.send(runDoneMsg{gen: f.m.run.gen, res: res})
	v := f.view()
	lines := report.Run(res, f.m.c.reportOptions())
	at := 0
	for _, l := range lines {
		want := strings.Repeat("  ", l.Indent) + l.Text
		if l.Kind == report.VerdictFail {
			if status := strings.Split(v, "\n")[5]; !strings.Contains(status, l.Text) {
				t.Fatalf("the verdict %q is not on the status line %q:\n%s", l.Text, status, v)
			}
			continue
		}
		if l.Text == "" {
			continue
		}
		i := strings.Index(v[at:], want)
		if i < 0 {
			t.Fatalf("the run screen lacks the report's line %q (kind %s) after what came before it:\n%s", want, l.Kind, v)
		}
		at += i + len(want)
	}
	wantIn(t, v, "this looks like a known wrong fix, bill-twice", "[✗] ✗  step 1 of 2: the first concept")
}

func TestRunShowsStepProgressAndTheChaosStage(t *testing.T) {
	f := newFixture(t, steppedKit(t), false)
	l := mustLab(t, f.m, 3)
	f.send(selectLabMsg{lab: 3})
	f.startRun(3)
	res := judged(l, time.Second, pass("TestFirst"), pass("TestGuard"), fail("TestSecond", "STALLED", "order o-3 waits forever"))
	f.send(runDoneMsg{gen: f.m.run.gen, res: res})
	wantIn(t, f.view(), "✓ [✗]  step 2 of 2: the second concept", "✓ step 1 of 2: the first concept", "step 2 of 2: the second concept")

	// Every step passes; the chaos stage does not.
	f.startRun(3)
	f.send(runEventMsg{gen: f.m.run.gen, ev: gotest.Event{Kind: gotest.TestStarted, Test: lab.ChaosTest}})
	wantIn(t, f.view(), "… TestChaos (the chaos stage)")
	res = judged(l, time.Second, pass("TestFirst"), pass("TestGuard"), pass("TestSecond"))
	chaos := fail(lab.ChaosTest, "LOST", "under schedule 7, order o-9 was never billed")
	res.Chaos = &kit.ChaosResult{Report: &gotest.Report{Tests: []gotest.Result{chaos}, Elapsed: time.Second}, Kind: gotest.Failed, Runs: 3}
	res.Mistakes = []lab.Mistake{l.Mistakes[1]}
	f.send(runDoneMsg{gen: f.m.run.gen, res: res})
	v := f.view()
	wantIn(t, v, "every step passed (2 of 2)", "chaos stage: 3 fault schedules from the lab's default seed against your code",
		"LOST: under schedule 7", "replay: `bin/checker chaos 3`", "this looks like a known wrong fix, fragile",
		"✗ lab 3: every step's tests pass, but the chaos stage does not")
}

func TestRunSaysNotCountedAndInfraAsTheCLIDoes(t *testing.T) {
	f := newFixture(t, sampleKit(t), false)
	l := mustLab(t, f.m, 1)
	f.startRun(1)
	res := judged(l, time.Second, pass("TestFine"), pass("TestLost"))
	res.NotCounted = []string{"labs/01-first/first_test.go differs from what the kit shipped; `git checkout -- labs/01-first/first_test.go` restores it"}
	f.send(runDoneMsg{gen: f.m.run.gen, res: res})
	v := f.view()
	wantIn(t, v, "not counted: this run cannot say whether the lab passes", "first_test.go differs", "✗ lab 1: not counted; nothing was recorded")
	wantNotIn(t, v, "✓ lab 1 passed")
	if st := f.m.c.kit.Progress.Lab("01-first"); st.LastRun != "" {
		t.Fatalf("a run that does not count was recorded: %+v", st)
	}

	f.startRun(1)
	res = &kit.RunResult{Lab: l, Infra: []kit.Infra{{Service: "RabbitMQ", Detail: "at amqp://u:***@h/: ACCESS_REFUSED", Fix: "correct the user"}}}
	f.send(runDoneMsg{gen: f.m.run.gen, res: res})
	wantIn(t, f.view(), "INFRA: RabbitMQ at amqp://u:***@h/: ACCESS_REFUSED; fix: correct the user",
		"! lab 1 could not run: a service failed, not your code; nothing was recorded")
}

func TestRunBuildErrorPointsAtFileLine(t *testing.T) {
	f := newFixture(t, sampleKit(t), false)
	f.startRun(1)
	f.send(runEventMsg{gen: f.m.run.gen, ev: gotest.Event{Kind: gotest.BuildOutput, Line: "labs/01-first/work.go:6:2: undefined: nope"}})
	wantIn(t, f.view(), "labs/01-first/work.go:6:2: undefined: nope")
	f.send(runDoneMsg{gen: f.m.run.gen, res: &kit.RunResult{Lab: mustLab(t, f.m, 1), Kind: gotest.BuildError,
		Report: &gotest.Report{Build: []string{"labs/01-first/work.go:6:2: undefined: nope"}}}})
	wantIn(t, f.view(), "✗ lab 1 does not compile", "does not compile:", "labs/01-first/work.go:6:2: undefined: nope")
}

func TestRunWithoutServicesIsInfra(t *testing.T) {
	f := newFixture(t, sampleKit(t), false)
	f.startRun(1)
	// The run's goroutine finds no services: its message says so.
	msg, ok := within(waitRun(f.m.run.ch), 5*time.Second)
	if !ok {
		t.Fatal("the run without services sent nothing within 5s")
	}
	f.pump(f.send(msg), 2)
	wantIn(t, f.view(), "INFRA: RabbitMQ is not reachable (test); fix: run `make up`")
	if st := f.m.c.kit.Progress.Lab("01-first"); st.LastRun != "" {
		t.Fatalf("an INFRA run was recorded: %+v", st)
	}
}

// TestAnOpenTUIPicksUpAPassFromAnotherChecker: `make lab-1` in another terminal records a pass; the open TUI shows
// it at its next look at the progress file, and says so.
func TestAnOpenTUIPicksUpAPassFromAnotherChecker(t *testing.T) {
	f := newFixture(t, sampleKit(t), false)
	wantIn(t, f.view(), "0/2 passed", "○ todo")
	f.send(reloadTickMsg{})
	wantIn(t, f.view(), "0/2 passed")
	other, err := kit.Open(f.root, false)
	if err != nil {
		t.Fatal(err)
	}
	res := judged(mustLab(t, f.m, 1), time.Second, pass("TestFine"), pass("TestLost"))
	if err := other.Record(res); err != nil {
		t.Fatal(err)
	}
	f.send(reloadTickMsg{})
	wantIn(t, f.view(), "1/2 passed", "✓ passed", "another checker recorded a pass: lab 1")
}

// writeEvents puts a recorded test of lab n's last run where the harness writes it.
func writeEvents(t *testing.T, root string, n int, test, fixture string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", fixture))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Dir(diagram.EventsFile(diagram.RunDir(root, n), test))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, test+".json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestDiagramOfTheFailingTest: d on a failed run draws the first failing test's events as lanes and arrows, scrolls,
// gives way to the plain timeline when the terminal is narrow, and esc goes back to the run.
func TestDiagramOfTheFailingTest(t *testing.T) {
	f := newSizedFixture(t, sampleKit(t), false, 100, 24)
	f.startRun(1)
	f.press("d")
	wantIn(t, f.view(), "d draws a failing test of the last run: run the lab first (r)")
	writeEvents(t, f.root, 1, "TestLost", "lost.json")
	f.send(runDoneMsg{gen: f.m.run.gen, res: failedResult(mustLab(t, f.m, 1))})
	f.press("d")
	if f.screen() != scrDiagram {
		t.Fatalf("d shows screen %d, want the diagram", f.screen())
	}
	v := f.view()
	wantIn(t, v, "diagram · lab 1 · TestLost", "│ sales │", "│ broker │", "│ billing │", "│ billing#2 │",
		"publish m-1 → sales", "✗ CRASHED at \"after-commit\"", "REDELIVERED m-1 from billing")
	before := v
	f.press("pgdown")
	if f.view() == before {
		t.Fatal("page down did not scroll the diagram")
	}
	wantIn(t, f.view(), "│ sales │", "charged o-1 4200 cents for m-1  (×2)") // the lane names stay, the second charge shows
	f.send(tea.WindowSizeMsg{Width: 50, Height: 24})
	wantIn(t, f.view(), "too narrow for the lanes: the timeline instead")
	wantNotIn(t, f.view(), "┌───────┐")
	f.press("esc")
	if f.screen() != scrRun {
		t.Fatalf("esc from the diagram shows screen %d, want the run", f.screen())
	}
}

func TestDiagramWithoutEventsSaysWhy(t *testing.T) {
	f := newFixture(t, sampleKit(t), false)
	f.startRun(1)
	f.send(runDoneMsg{gen: f.m.run.gen, res: failedResult(mustLab(t, f.m, 1))})
	f.press("d")
	wantIn(t, f.view(), "TestLost has no recorded events to draw", ".msglabs/runs/01/events/")
	f.press("esc")
	f.startRun(1)
	f.send(runDoneMsg{gen: f.m.run.gen, res: judged(mustLab(t, f.m, 1), time.Second, pass("TestFine"), pass("TestLost"))})
	f.press("d")
	if f.screen() != scrRun {
		t.Fatal("d on a passing run opened a diagram")
	}
	wantIn(t, f.view(), "every test of this run passed: there is no failure to draw")
}

// TestARunIsAnnouncedToTheRoom: after a run is recorded the room hook gets the lab as it is now and the result; a
// room that does not answer is a flash, and the run's verdict stays.
func TestARunIsAnnouncedToTheRoom(t *testing.T) {
	f := newFixture(t, sampleKit(t), false)
	f.m.c.opts.Resolve = func(context.Context) (infra.Endpoints, error) {
		return infra.Endpoints{AMQP: infra.Endpoint{URL: "amqp://room/"}}, nil
	}
	type call struct {
		lab     int
		started bool
		outcome kit.Outcome
		url     string
	}
	calls := make(chan call, 1)
	f.m.c.opts.Announce = func(_ context.Context, li kit.LabInfo, eps infra.Endpoints, res *kit.RunResult, warn io.Writer) {
		calls <- call{li.Number, !li.StartedAt.IsZero(), res.Outcome(), eps.AMQP.URL}
		io.WriteString(warn, "checker: the room berlin did not answer within 1s; your run is not affected\n")
	}
	f.startRun(1)
	f.pump(f.send(runDoneMsg{gen: f.m.run.gen, res: failedResult(mustLab(t, f.m, 1))}), 2)
	select {
	case c := <-calls:
		if c.lab != 1 || !c.started || c.outcome != kit.Failing || c.url != "amqp://room/" {
			t.Fatalf("the room was told %+v; want lab 1, started, failing, on amqp://room/", c)
		}
	default:
		t.Fatal("the room was not told about the run")
	}
	wantIn(t, f.view(), "the room berlin did not answer", "✗ lab 1: step 1 of 1 failing")
}

// TestRunForReal runs the sample lab's tests with the test binary, through the commands the TUI returns.
func TestRunForReal(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a lab's tests")
	}
	f := newFixture(t, sampleKit(t), false)
	f.m.c.opts.Resolve = func(context.Context) (infra.Endpoints, error) { return infra.Endpoints{}, nil }
	var sweeps, waited atomic.Int32
	f.m.c.opts.Sweep = func(context.Context, infra.Endpoints) func() {
		sweeps.Add(1)
		return func() { waited.Add(1) }
	}
	f.runToEnd(t)
	if sweeps.Load() != 1 || waited.Load() != 1 {
		t.Fatalf("the run started %d sweeps and waited for %d; want one of each", sweeps.Load(), waited.Load())
	}
	v := f.view()
	wantIn(t, v, "1 passed, 1 failed", "LOST:", "order o-17 went wrong")
	if st := f.m.c.kit.Progress.Lab("01-first"); st.LastRun != progress.RunFail {
		t.Fatalf("the failed run was not recorded: %+v", st)
	}
	kittest.Write(t, f.root, map[string]string{"labs/01-first/work.go": kittest.Solved("first")})
	f.runToEnd(t)
	wantIn(t, f.view(), "✓ lab 1 passed", "unlocked: lab 2, solution 1", "s: the reference solution next to its follow-up")
	f.press("esc")
	wantIn(t, f.view(), "1/2 passed", "✓ passed", "○ todo")
	// The progress is the command line's: the same file says so.
	k, _ := kit.Open(f.root, false)
	if li, _ := k.Info(2); !li.Unlocked {
		t.Fatal("lab 2 is not unlocked in the progress file")
	}
}

// startRun shows the run screen with a run of lab n going on, whose messages the test sends itself.
func (f *fixture) startRun(n int) {
	f.send(openMsg{to: scrRun, msg: runLabMsg{lab: n, by: byYou}})
}

// runToEnd presses r and feeds the run's messages in until it is done (bounded: a minute).
func (f *fixture) runToEnd(t *testing.T) {
	t.Helper()
	f.once(f.pressOnly("r")) // the run's own commands are fed below, from its channel
	deadline := time.Now().Add(time.Minute)
	for f.m.run.running {
		if time.Now().After(deadline) {
			t.Fatalf("the run did not end within a minute:\n%s", f.view())
		}
		msg, ok := within(waitRun(f.m.run.ch), time.Until(deadline))
		if !ok || msg == nil {
			continue
		}
		f.pump(f.send(msg), 1)
	}
}

// TestAResultOlderThanTheProgressSaysSo: the run screen shows lab 1 failing; then another checker records a pass of
// lab 1 (`bin/checker run 1` in another terminal). Once the TUI has picked that up, the screen no longer shows the
// old failure as the lab's state, whether it is on screen, gone back to with esc, or opened again from the list.
func TestAResultOlderThanTheProgressSaysSo(t *testing.T) {
	f := newFixture(t, sampleKit(t), false)
	f.startRun(1)
	f.send(runDoneMsg{gen: f.m.run.gen, res: failedResult(mustLab(t, f.m, 1))})
	wantIn(t, f.view(), "✗ lab 1: step 1 of 1 failing · 1 passed, 1 failed", "[✗]  step 1 of 1")

	f.clock.Add(5 * time.Minute)
	other, err := kit.Open(f.root, false)
	if err != nil {
		t.Fatal(err)
	}
	other.Now = f.clock.Now
	if err := other.Record(judged(mustLab(t, f.m, 1), time.Second, pass("TestFine"), pass("TestLost"))); err != nil {
		t.Fatal(err)
	}
	f.send(reloadTickMsg{})
	stale := "out of date: lab 1 passed in a run recorded at 09:05:00, after this one · r runs it here"
	v := f.view()
	wantIn(t, v, stale, "✓  every step passed (1 of 1)", "the report below is the earlier run of 09:00:00, not lab 1 as it is now")
	wantNotIn(t, v, "✗ lab 1: step 1 of 1 failing", "d: the failing test as a sequence diagram")

	f.press("b", "esc") // the brief, and back: the result is still out of date, and still says so
	if f.screen() != scrRun {
		t.Fatalf("esc from the brief shows screen %d, want the run", f.screen())
	}
	wantIn(t, f.view(), stale)
	f.press("d")
	if f.screen() != scrRun {
		t.Fatal("d drew the failure of an out-of-date run (its events were overwritten by the newer run)")
	}
	wantIn(t, f.view(), "this result is out of date (lab 1 was run again at 09:05:00): r runs it here, then d draws it")

	f.press("esc")
	f.send(keyMsg("enter")) // its commands (the run's messages) are the test's to feed
	if f.screen() != scrRun || !f.m.run.running {
		t.Fatal("enter on a lab whose shown result is out of date showed that result instead of running the lab")
	}
	f.send(runDoneMsg{gen: f.m.run.gen, res: failedResult(mustLab(t, f.m, 1))})
	v = f.view()
	wantIn(t, v, "✗ lab 1: step 1 of 1 failing", "d: the failing test as a sequence diagram")
	wantNotIn(t, v, "out of date")
}

// TestDiagramOfATestToldAsSubTests: a test with a sub-test per crash point exports its sub-tests only (the harness
// writes TestLost__<point>.json); d draws its failing sub-test, not a passing one and not "no recorded events".
func TestDiagramOfATestToldAsSubTests(t *testing.T) {
	f := newFixture(t, sampleKit(t), false)
	data, err := os.ReadFile(filepath.Join("testdata", "lost.json"))
	if err != nil {
		t.Fatal(err)
	}
	dir := diagram.RunDir(f.root, 1)
	for _, sub := range []struct {
		name   string
		failed bool
	}{{"TestLost/before_commit", false}, {"TestLost/after_commit", true}} {
		export := strings.Replace(string(data), `"test":"TestLost"`, fmt.Sprintf(`"test":%q`, sub.name), 1)
		export = strings.Replace(export, `"failed":true`, fmt.Sprintf(`"failed":%t`, sub.failed), 1)
		path := diagram.EventsFile(dir, sub.name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(export), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f.startRun(1)
	f.send(runDoneMsg{gen: f.m.run.gen, res: failedResult(mustLab(t, f.m, 1))})
	f.press("d")
	if f.screen() != scrDiagram {
		t.Fatalf("d shows screen %d, want the diagram", f.screen())
	}
	v := f.view()
	wantIn(t, v, "diagram · lab 1 · TestLost", "TestLost/after_commit", "│ billing#2 │", "✗ CRASHED at \"after-commit\"")
	wantNotIn(t, v, "TestLost/before_commit", "no recorded events")
}
