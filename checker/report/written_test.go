package report

import (
	"strings"
	"testing"
	"time"

	"msglabs/checker/gotest"
	"msglabs/checker/kit"
	"msglabs/checker/lab"
)

// writtenLab is a lab whose second step has the attendee write TestMine against a planted bug.
var writtenLab = lab.Lab{Number: 12, Slug: "12-contracts", Title: "Message contracts",
	Steps: []lab.Step{
		{Title: "the claim check", Failing: []lab.Failing{{Test: "TestClaim", Marker: "LOST"}}},
		{Title: "your own test", Concept: "test a producer in isolation",
			Written: &lab.Written{Test: "TestMine", Marker: "LOST", Planted: "no-header", Bug: "Sales sends no version header"}},
	},
}

// writtenRun is a run of writtenLab where step 1 passed, TestMine did what mine says on the kit's code, and planted
// (nil: the planted run did not happen) is what it did against the planted bug.
func writtenRun(mine gotest.Result, planted *gotest.Result) *kit.RunResult {
	claim := result("TestClaim", gotest.Pass, "", "")
	rep := &gotest.Report{Tests: []gotest.Result{claim, mine}, Elapsed: 900 * time.Millisecond}
	kind := gotest.Passed
	if mine.Status == gotest.Fail {
		kind = gotest.Failed
	}
	step := kit.StepResult{Number: 2, Step: writtenLab.Steps[1], Tests: []gotest.Result{mine}, Passed: mine.Status == gotest.Pass}
	if planted != nil {
		step.Planted = kit.JudgePlanted(*writtenLab.Steps[1].Written, &gotest.Report{Tests: []gotest.Result{*planted}})
		step.Passed = step.Passed && step.Planted.Caught
	}
	res := &kit.RunResult{Lab: writtenLab, Report: rep, Kind: kind, Steps: []kit.StepResult{
		{Number: 1, Step: writtenLab.Steps[0], Tests: []gotest.Result{claim}, Passed: true}, step}}
	if !step.Passed {
		res.Current = 2
	}
	return res
}

func TestRunSaysWhatTheAttendeesTestDidAgainstThePlantedBug(t *testing.T) {
	pass := result("TestMine", gotest.Pass, "", "")
	caught := result("TestMine", gotest.Fail, "LOST", "LOST: order o-2 would never be charged: no version header")
	other := result("TestMine", gotest.Fail, "DUPLICATE", "DUPLICATE: order o-2 twice")
	bare := gotest.Result{Name: "TestMine", Status: gotest.Fail, Elapsed: 80 * time.Millisecond, Output: []string{"mine_test.go:12: header missing"}}
	cases := []struct {
		name    string
		res     *kit.RunResult
		want    string
		outcome kit.Outcome
	}{
		{"caught", writtenRun(pass, &caught), `✓ step 1 of 2: the claim check
✓ step 2 of 2: your own test
  ✓ TestMine catches the planted bug (LOST) and passes on the kit's code
✓ lab 12 passed · 2 steps · 2 tests · 900ms
`, kit.Passed},
		{"passes against the bug", writtenRun(pass, &pass), `✓ step 1 of 2: the claim check
step 2 of 2: your own test
  test a producer in isolation
  ✗ TestMine against the planted bug  passed
    it passes against the planted bug too, so it does not catch it yet: make it fail there, with LOST
      the planted bug: Sales sends no version header
`, kit.Failing},
		{"another marker", writtenRun(pass, &other), `✓ step 1 of 2: the claim check
step 2 of 2: your own test
  test a producer in isolation
  ✗ TestMine against the planted bug  120ms
    it fails there with DUPLICATE, but what the planted bug does to the shop is LOST: Sales sends no version header
      DUPLICATE: order o-2 twice
`, kit.Failing},
		{"no marker", writtenRun(pass, &bare), `✓ step 1 of 2: the claim check
step 2 of 2: your own test
  test a producer in isolation
  ✗ TestMine against the planted bug  80ms
    it fails there, but tells no story: say what happened to what with the harness (env.Fail(story.Lost, …) or env.ExactlyOnce), so the failure starts with LOST
      mine_test.go:12: header missing
`, kit.Failing},
		{"fails on the kit's code", writtenRun(caught, nil), `✓ step 1 of 2: the claim check
step 2 of 2: your own test
  test a producer in isolation
  ✗ TestMine  120ms
      LOST: order o-2 would never be charged: no version header
  TestMine is your test: it must pass on the kit's code as shipped (that code is right), and only then is it run against the planted bug
`, kit.Failing},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := c.res.Outcome(); got != c.outcome {
				t.Fatalf("outcome %s, want %s", got, c.outcome)
			}
			lines := Run(c.res, Options{})
			got := Plain(lines)
			if len(got) < len(c.want) || got[:len(c.want)] != c.want {
				t.Fatalf("report:\n%s\nwant it to start with:\n%s", got, c.want)
			}
		})
	}
}

// A written step whose turn has not come says when its test will be run against the planted bug.
func TestAWrittenStepThatWaitsSaysWhen(t *testing.T) {
	pass := result("TestMine", gotest.Pass, "", "")
	res := writtenRun(pass, nil)
	res.Steps[0].Passed = false
	res.Steps[0].Tests = []gotest.Result{result("TestClaim", gotest.Fail, "LOST", "LOST: invoice o-1 never e-mailed")}
	res.Report.Tests[0] = res.Steps[0].Tests[0]
	res.Kind, res.Current = gotest.Failed, 1
	res.Steps[1].Step.Edit = []string{"mine_test.go"}
	res.Steps[1].Passed, res.Steps[1].PlantedLater = false, true
	got := Plain(Run(res, Options{}))
	want := "✗ step 2 of 2: your own test · TestMine is run against the planted bug once the steps before it pass, " +
		"or as soon as you change mine_test.go\n"
	if !strings.Contains(got, want) {
		t.Fatalf("report:\n%s\nwant a line:\n%s", got, want)
	}
}
