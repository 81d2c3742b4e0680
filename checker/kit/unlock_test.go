package kit

import (
	"slices"
	"testing"

	"msglabs/checker/gotest"
)

// passedRun is a run of lab n in which every visible test passed (no chaos stage: the sample labs 1 and 2 have
// none), as kit.Run would judge it.
func passedRun(t *testing.T, k *Kit, n int) *RunResult {
	t.Helper()
	l, err := k.Catalog.Lab(n)
	if err != nil {
		t.Fatal(err)
	}
	rep := &gotest.Report{}
	res := &RunResult{Lab: l, Report: rep, Kind: gotest.Passed}
	for i, s := range l.Steps {
		sr := StepResult{Number: i + 1, Step: s, Passed: true}
		for _, name := range s.Tests() {
			tr := gotest.Result{Name: name, Status: gotest.Pass}
			rep.Tests = append(rep.Tests, tr)
			sr.Tests = append(sr.Tests, tr)
		}
		res.Steps = append(res.Steps, sr)
	}
	if res.Outcome() != Passed {
		t.Fatalf("the hand-made run of lab %d is %s, not passed", n, res.Outcome())
	}
	return res
}

// TestRecordNamesWhatOpenedNotTheLabRunAhead: lab 2 run ahead while locked (lab 1 not passed) and passed opens lab
// 3 and solution 2; lab 2 itself is not "unlocked" news under its own pass.
func TestRecordNamesWhatOpenedNotTheLabRunAhead(t *testing.T) {
	k := open(t, stepped(t), false)
	if li, _ := k.Info(2); li.Unlocked {
		t.Fatal("lab 2 is unlocked before lab 1 passed; the test needs it locked")
	}
	res := passedRun(t, k, 2)
	if err := k.Record(res); err != nil {
		t.Fatal(err)
	}
	if want := []string{"lab 3", "solution 2"}; !slices.Equal(res.Unlocked, want) {
		t.Fatalf("passing locked lab 2 unlocked %q, want %q (lab 2 was passed, not unlocked)", res.Unlocked, want)
	}
	// Passing lab 1 afterwards opens nothing new but its own solution: lab 2 is open already.
	res = passedRun(t, k, 1)
	if err := k.Record(res); err != nil {
		t.Fatal(err)
	}
	if want := []string{"solution 1"}; !slices.Equal(res.Unlocked, want) {
		t.Fatalf("passing lab 1 after lab 2 unlocked %q, want %q", res.Unlocked, want)
	}
}
