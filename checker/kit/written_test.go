package kit

import (
	"testing"

	"msglabs/checker/gotest"
	"msglabs/checker/kittest"
)

// A step in which the attendee writes a test passes only when their test passes on the kit's service and fails,
// with the step's marker, against the planted bug; each other outcome leaves the step failing, with what happened.
func TestRunJudgesTheAttendeesTestAgainstThePlantedBug(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go test")
	}
	root := written(t)
	k := open(t, root, true)
	kittest.Write(t, root, map[string]string{"labs/04-written/work.go": kittest.Solved("written")})
	cases := []struct {
		name      string
		mine      string
		caught    bool
		planted   gotest.Status // the written test against the planted bug; "" when that run must not happen
		marker    string
		kitStatus gotest.Status // the written test on the kit's service
	}{
		{"the shipped test checks nothing", kittest.WrittenStarter, false, gotest.Pass, "", gotest.Pass},
		{"a test that catches the bug", kittest.WrittenTest(100, "LOST: the discount is wrong"), true, gotest.Fail, "LOST", gotest.Pass},
		{"a test with another marker", kittest.WrittenTest(100, "DUPLICATE: the discount is wrong"), false, gotest.Fail, "DUPLICATE", gotest.Pass},
		{"a test without a marker", kittest.WrittenTest(100, "the discount is wrong"), false, gotest.Fail, "", gotest.Pass},
		{"a test that fails on the kit's service", kittest.WrittenTest(10, "LOST: the discount is wrong"), false, "", "", gotest.Fail},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			kittest.Write(t, root, map[string]string{"labs/04-written/mine_test.go": c.mine})
			res := run(t, k, 4, RunOptions{})
			step := res.Steps[1]
			if len(res.NotCounted) > 0 || !res.Steps[0].Passed {
				t.Fatalf("not counted %v, step 1 passed %v: the attendee's test file is theirs to edit", res.NotCounted, res.Steps[0].Passed)
			}
			if got, _ := res.Report.Test("TestMine"); got.Status != c.kitStatus {
				t.Fatalf("TestMine on the kit's service: %s, want %s", got.Status, c.kitStatus)
			}
			if c.planted == "" {
				if step.Planted != nil {
					t.Fatalf("the planted run happened although TestMine failed on the kit's service: %+v", step.Planted)
				}
			} else if step.Planted == nil || step.Planted.Test.Status != c.planted || step.Planted.Test.Marker != c.marker {
				t.Fatalf("against the planted bug: %+v, want %s with marker %q", step.Planted, c.planted, c.marker)
			}
			if step.Passed != c.caught || res.Passed() != c.caught || (res.Current == 2) == c.caught {
				t.Fatalf("step 2 passed %v, lab passed %v (outcome %s), current step %d; want passed %v",
					step.Passed, res.Passed(), res.Outcome(), res.Current, c.caught)
			}
		})
	}
}

// While a step before it fails, a written step waits its turn: the attendee's shipped test is not run against the
// planted bug (no second build in their loop on step 1) and the step is not passed. As soon as they change their
// test file, it is run there, whichever step they are on.
func TestAWrittenStepWaitsUntilItsTurnOrItsTestIsTouched(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go test")
	}
	root := written(t)
	k := open(t, root, true)
	kittest.Write(t, root, map[string]string{"labs/04-written/work.go": kittest.Starter("written")})

	res := run(t, k, 4, RunOptions{})
	step := res.Steps[1]
	if res.Steps[0].Passed || step.Planted != nil || !step.PlantedLater || step.Passed {
		t.Fatalf("shipped test, step 1 failing: step 1 passed %v, planted %+v, later %v, step 2 passed %v; want the "+
			"planted run put off and step 2 not passed", res.Steps[0].Passed, step.Planted, step.PlantedLater, step.Passed)
	}

	kittest.Write(t, root, map[string]string{"labs/04-written/mine_test.go": kittest.WrittenTest(100, "LOST: the discount is wrong")})
	res = run(t, k, 4, RunOptions{})
	step = res.Steps[1]
	if step.PlantedLater || step.Planted == nil || !step.Planted.Caught {
		t.Fatalf("changed test, step 1 failing: planted %+v, later %v; want it run against the planted bug and caught",
			step.Planted, step.PlantedLater)
	}
	if res.Current != 1 || res.Passed() {
		t.Fatalf("current step %d, passed %v: step 1 still fails", res.Current, res.Passed())
	}
}
