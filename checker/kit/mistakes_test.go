package kit

import (
	"slices"
	"testing"

	"msglabs/checker/gotest"
	"msglabs/checker/lab"
)

// mistakesLab has two steps. Step 1's failing tests are TestA and TestB (the starter fails both with LOST), its guard
// TestGuard; step 2's failing test is TestC.
func mistakesLab() lab.Lab {
	return lab.Lab{Number: 9, Steps: []lab.Step{
		{Failing: []lab.Failing{{Test: "TestA", Marker: "LOST"}, {Test: "TestB", Marker: "LOST"}}, Guards: []string{"TestGuard"}},
		{Failing: []lab.Failing{{Test: "TestC", Marker: "LOST"}}},
	}, Mistakes: []lab.Mistake{
		{Name: "guarded", Step: 1, Caught: lab.Failing{Test: "TestGuard", Marker: "DUPLICATE"}},
		{Name: "like-the-starter", Step: 1, Caught: lab.Failing{Test: "TestA", Marker: "LOST"}},
		{Name: "told-apart", Step: 1, Caught: lab.Failing{Test: "TestA", Marker: "LOST", Headline: "in memory only"}},
		{Name: "later-step", Step: 1, Caught: lab.Failing{Test: "TestC", Marker: "LOST"}},
		{Name: "chaotic", Step: 2, Caught: lab.Failing{Test: lab.ChaosTest, Marker: "DUPLICATE"}},
	}}
}

// mistakesRun is a run of mistakesLab whose tests ended as given (a marker and headline for a failure, "" for a pass).
func mistakesRun(results map[string][2]string) *RunResult {
	l := mistakesLab()
	res := &RunResult{Lab: l, Report: &gotest.Report{}}
	for i, s := range l.Steps {
		sr := StepResult{Number: i + 1, Step: s, Passed: true}
		for _, name := range s.Tests() {
			r := gotest.Result{Name: name, Status: gotest.Pass}
			if got, ok := results[name]; ok && got[0] != "" {
				r.Status, r.Marker, r.Headline = gotest.Fail, got[0], got[1]
				sr.Passed = false
			}
			res.Report.Tests = append(res.Report.Tests, r)
			sr.Tests = append(sr.Tests, r)
		}
		if !sr.Passed && res.Current == 0 {
			res.Current = sr.Number
		}
		res.Steps = append(res.Steps, sr)
	}
	return res
}

func TestMistakesAreNamedOnlyWhereTheyTellSomething(t *testing.T) {
	lost := func(headline string) [2]string { return [2]string{"LOST", headline} }
	cases := []struct {
		name    string
		results map[string][2]string
		want    []string
	}{
		{"the untouched starter fails like a mistake: nothing named",
			map[string][2]string{"TestA": lost("o-1 was never stored"), "TestB": lost("o-2 was never stored"), "TestC": lost("x")}, nil},
		{"the same failure once the step's other failing test passes",
			map[string][2]string{"TestA": lost("o-1 was never stored"), "TestC": lost("x")}, []string{"like-the-starter"}},
		{"a piece of headline tells a mistake apart even from the starter",
			map[string][2]string{"TestA": lost("o-1 waited in memory only"), "TestB": lost("o-2"), "TestC": lost("x")}, []string{"told-apart"}},
		{"a guard that fails names its mistake",
			map[string][2]string{"TestGuard": {"DUPLICATE", "o-1 charged twice"}, "TestC": lost("x")}, []string{"guarded"}},
		{"a failure of a later step names nothing while an earlier step fails",
			map[string][2]string{"TestB": lost("o-2"), "TestC": lost("x")}, nil},
		{"the later step's only failing test fails as in the starter: still nothing to tell",
			map[string][2]string{"TestC": lost("x")}, nil},
	}
	for _, c := range cases {
		res := mistakesRun(c.results)
		if got := mistakeNames(&RunResult{Mistakes: matchMistakes(res)}); !slices.Equal(got, c.want) {
			t.Errorf("%s: named %v, want %v", c.name, got, c.want)
		}
	}
	res := mistakesRun(nil)
	res.Chaos = &ChaosResult{Report: &gotest.Report{Tests: []gotest.Result{{Name: lab.ChaosTest, Status: gotest.Fail, Marker: "DUPLICATE"}}}}
	if got := mistakeNames(&RunResult{Mistakes: matchMistakes(res)}); !slices.Equal(got, []string{"chaotic"}) {
		t.Errorf("a chaos failure: named %v, want [chaotic]", got)
	}
}
