package report

import (
	"fmt"
	"strings"
	"time"

	"msglabs/checker/gotest"
	"msglabs/checker/kit"
	"msglabs/checker/lab"
)

// Run is the report after a run, its verdict last: the build errors, or the steps with the first failing one
// presented in full (rustlings-style) and the others in a line each; the chaos stage; named mistakes; INFRA;
// why the run was not counted; what it unlocked; the command to type next. res has been through kit.Record (or
// not: then nothing is said about unlocks).
func Run(res *kit.RunResult, o Options) []Line {
	var out []Line
	add := func(lines ...Line) { out = append(out, lines...) }
	rep := res.Report
	if rep != nil && res.Kind == gotest.BuildError {
		add(build(rep)...)
	}
	if rep != nil && res.Kind != gotest.BuildError {
		add(steps(res)...)
		add(binaryTrouble(res.Lab, rep)...)
		if rep.Race {
			add(Line{Kind: Note, Text: "the race detector found a data race (see the test output)."})
		}
		if rep.LogPath != "" && outputCut(res.Kind, rep) {
			add(Line{Kind: Note, Text: "the whole output of the run: " + o.path(rep.LogPath)})
		}
	}
	if res.Chaos != nil {
		add(chaos(res, o)...)
	} else if _, waiting := uncaught(res); res.ChaosPending() && !waiting {
		add(Line{Kind: Note, Text: "the chaos stage did not run, so the lab does not count as passed yet."})
	}
	add(mistakes(res, o)...)
	for _, p := range res.Infra {
		add(Line{Kind: Infra, Text: p.String()})
	}
	if res.Outcome() == kit.NotCounted {
		add(Line{Kind: NotCounted, Text: "not counted: this run cannot say whether the lab passes"})
		for _, why := range res.NotCounted {
			add(Line{Kind: NotCounted, Indent: 1, Text: why})
		}
	}
	add(verdict(res))
	if len(res.Unlocked) > 0 {
		add(Line{Kind: Unlock, Text: "unlocked: " + strings.Join(res.Unlocked, ", ")})
	}
	add(next(res, o)...)
	return out
}

// outputCut reports whether the terminal saw less than the run printed: a test's output was cut to its tail, or the
// binary stopped in a way whose stacks are only in the log.
func outputCut(kind gotest.Kind, rep *gotest.Report) bool {
	switch kind {
	case gotest.Hung, gotest.Exited, gotest.Panicked, gotest.TimedOut:
		return true
	}
	for _, t := range rep.Tests {
		if t.Status == gotest.Fail && t.Dropped > 0 {
			return true
		}
	}
	return false
}

func build(rep *gotest.Report) []Line {
	out := []Line{{Kind: Build, Text: "does not compile:"}}
	for _, l := range rep.Build {
		out = append(out, Line{Kind: Build, Indent: 2, Text: l})
	}
	return append(out, Line{Kind: Note, Indent: 1, Text: "fix the compile error and run again."})
}

// steps presents the first step that did not pass in full, the others in a line each.
func steps(res *kit.RunResult) []Line {
	var out []Line
	for _, s := range res.Steps {
		name := StepName(res.Lab, s.Number)
		switch {
		case s.Passed:
			out = append(out, Line{Kind: StepDone, Text: GlyphPass + " " + name})
			if p := s.Planted; p != nil {
				out = append(out, Line{Kind: TestPass, Indent: 1, Text: fmt.Sprintf("%s %s catches the planted bug (%s) and passes on the kit's code",
					GlyphPass, p.Written.Test, p.Test.Marker)})
			}
		case s.Number == res.Current:
			out = append(out, Line{Kind: Step, Text: name})
			if s.Step.Concept != "" {
				out = append(out, Line{Kind: Concept, Indent: 1, Text: s.Step.Concept})
			}
			for _, t := range s.Failed() {
				out = append(out, Failure(t, 1)...)
			}
			for _, t := range s.NotRun {
				out = append(out, Line{Kind: TestNotRun, Indent: 1, Text: fmt.Sprintf("%s %s  did not run", GlyphNotRun, t)})
			}
			out = append(out, written(res.Lab, s)...)
		default:
			out = append(out, Line{Kind: StepLater, Text: fmt.Sprintf("%s %s · %s", GlyphFail, name, failures(s))})
		}
	}
	if len(res.Steps) == 0 && res.Report != nil {
		for _, t := range res.Report.Failed() {
			out = append(out, Failure(t, 1)...)
		}
	}
	return out
}

// failures names a step's failed tests and their markers in one line.
func failures(s kit.StepResult) string {
	var parts []string
	for _, t := range s.Failed() {
		if t.Marker != "" {
			parts = append(parts, t.Name+" ("+t.Marker+")")
		} else {
			parts = append(parts, t.Name)
		}
	}
	if len(s.NotRun) > 0 {
		parts = append(parts, strings.Join(s.NotRun, ", ")+" did not run")
	}
	if p := s.Planted; p != nil && !p.Caught {
		parts = append(parts, p.Written.Test+" does not catch the planted bug yet")
	}
	if s.PlantedLater {
		parts = append(parts, fmt.Sprintf("%s is run against the planted bug once the steps before it pass, or as soon "+
			"as you change %s", s.Step.Written.Test, strings.Join(s.Step.Edit, ", ")))
	}
	return strings.Join(parts, ", ")
}

// written explains a step in which the attendee writes a test and it is not passed yet: their test fails on the
// kit's own code, or it does not catch the planted bug (it passes against it, fails without the step's marker, or
// with another one), with what it said there.
func written(l lab.Lab, s kit.StepResult) []Line {
	w := s.Step.Written
	if w == nil {
		return nil
	}
	if t, ok := testOf(s, w.Test); ok && t.Status == gotest.Fail {
		return []Line{{Kind: Note, Indent: 1, Text: fmt.Sprintf("%s is your test: it must pass on the kit's code as shipped "+
			"(that code is right), and only then is it run against the planted bug", w.Test)}}
	}
	p := s.Planted
	if p == nil || p.Caught {
		return nil
	}
	head := fmt.Sprintf("%s %s against the planted bug", GlyphFail, w.Test)
	bug := Line{Kind: Story, Indent: 3, Text: "the planted bug: " + w.Bug}
	rep := p.Report
	switch t := p.Test; {
	case rep != nil && rep.Kind() == gotest.BuildError:
		out := []Line{{Kind: TestFail, Indent: 1, Text: head + "  does not compile"}}
		for _, l := range rep.Build {
			out = append(out, Line{Kind: Build, Indent: 3, Text: l})
		}
		return out
	case t.Status == gotest.Pass:
		return []Line{{Kind: TestFail, Indent: 1, Text: head + "  passed"},
			{Kind: Story, Indent: 2, Text: fmt.Sprintf("it passes against the planted bug too, so it does not catch it yet: "+
				"make it fail there, with %s", w.Marker)}, bug}
	case t.Status == gotest.Fail && t.Marker == "":
		out := []Line{{Kind: TestFail, Indent: 1, Text: head + "  " + Duration(t.Elapsed)},
			{Kind: Story, Indent: 2, Text: fmt.Sprintf("it fails there, but tells no story: say what happened to what with "+
				"the harness (env.Fail(story.%s, …) or env.ExactlyOnce), so the failure starts with %s", storyName(w.Marker), w.Marker)}}
		return append(out, Failure(t, 1)[1:]...)
	case t.Status == gotest.Fail:
		out := []Line{{Kind: TestFail, Indent: 1, Text: head + "  " + Duration(t.Elapsed)},
			{Kind: Story, Indent: 2, Text: fmt.Sprintf("it fails there with %s, but what the planted bug does to the shop is %s: %s",
				t.Marker, w.Marker, w.Bug)}}
		return append(out, Failure(t, 1)[1:]...)
	}
	out := []Line{{Kind: TestFail, Indent: 1, Text: head + "  did not finish"}}
	if rep != nil {
		out = append(out, binaryTrouble(l, rep)...)
	}
	return out
}

// testOf returns the named test among a step's results.
func testOf(s kit.StepResult, name string) (gotest.Result, bool) {
	for _, t := range s.Tests {
		if t.Name == name {
			return t, true
		}
	}
	return gotest.Result{}, false
}

// storyName is a marker as shared/story spells its constant: LOST → Lost.
func storyName(marker string) string {
	if marker == "" {
		return ""
	}
	return marker[:1] + strings.ToLower(marker[1:])
}

// binaryTrouble explains a binary that stopped before its tests finished: a hang the watchdog stopped (with where
// the stuck goroutine was in the lab's files), an early exit, a time-out, a panic outside a step.
func binaryTrouble(l lab.Lab, rep *gotest.Report) []Line {
	var out []Line
	if h := rep.Hang; h != nil {
		out = append(out, Line{Kind: Story, Text: hangSentence(h)})
		for _, o := range h.Other {
			out = append(out, Line{Kind: Story, Indent: 1, Text: "also in your code: " + o})
		}
	}
	if e := rep.Exit; e != nil {
		who := "the test binary"
		if e.Test != "" {
			who = "the test binary, during " + e.Test + ","
		}
		out = append(out, Line{Kind: Story, Text: who + " " + e.Sentence})
	}
	if len(rep.Timeout) > 0 {
		out = append(out, Line{Kind: Story, Text: fmt.Sprintf("%s was still running when the time ran out: something waits forever "+
			"(a consumer that never gets its message, a wait without a bound?).", strings.Join(rep.Timeout, ", "))})
	}
	if p := rep.Panic; p != nil && l.StepOf(p.Test) == 0 {
		at := ""
		if p.At != "" {
			at = " at " + p.At
		}
		out = append(out, Line{Kind: Story, Text: fmt.Sprintf("panic in %s: %s%s", p.Test, p.Message, at)})
	}
	if rep.Kind() == gotest.NoTests && rep.Stderr != "" {
		line, _, _ := strings.Cut(rep.Stderr, "\n")
		out = append(out, Line{Kind: Output, Text: line})
	}
	return out
}

// hangSentence says which test made no progress and where it was stuck.
func hangSentence(h *gotest.Hang) string {
	who := h.Test
	if who == "" {
		who = "the test binary (outside any test)"
	}
	s := fmt.Sprintf("%s made no progress for %s, so it was stopped", who, Duration(h.After))
	switch {
	case h.At != "" && h.Func != "":
		s += fmt.Sprintf(": stuck at %s in %s", h.At, h.Func)
	case h.At != "":
		s += ": stuck at " + h.At
	default:
		return s + " (no goroutine was in the lab's files: a wait in the test itself?)"
	}
	if h.State != "" {
		s += " (" + h.State + ")"
	}
	return s
}

// chaos reports the chaos stage: passed in a line, failed with TestChaos's story and the replay command.
func chaos(res *kit.RunResult, o Options) []Line {
	c := res.Chaos
	seed := "the lab's default seed"
	if c.Seed != "" {
		seed = "seed " + c.Seed
	}
	if c.Passed() {
		return []Line{{Kind: Stage, Text: fmt.Sprintf("%s chaos stage: %s from %s against your code, all kept their promises", GlyphPass, schedules(c.Runs), seed)}}
	}
	out := []Line{{Kind: Stage, Text: fmt.Sprintf("chaos stage: %s from %s against your code", schedules(c.Runs), seed)}}
	t, ok := c.Report.Test(lab.ChaosTest)
	if !ok {
		return append(out, binaryTrouble(res.Lab, c.Report)...)
	}
	out = append(out, Failure(t, 1)...)
	if c.Report.Hang != nil || c.Report.Exit != nil {
		out = append(out, binaryTrouble(res.Lab, c.Report)...) // a schedule that hung says where
	}
	schedule := chaosSchedule(c.Report)
	for _, l := range schedule {
		out = append(out, Line{Kind: Story, Indent: 1, Text: l})
	}
	if len(schedule) == 0 && !strings.Contains(t.Story, "checker chaos") {
		replay := o.cmd("chaos", res.Lab.Number)
		if c.Seed != "" {
			replay = o.cmd("chaos", res.Lab.Number, "--seed", c.Seed)
		}
		out = append(out, Line{Kind: Next, Indent: 1, Text: "replay: " + replay})
	}
	return out
}

// schedules says how many fault schedules: "1 fault schedule", "8 fault schedules".
func schedules(n int) string {
	if n == 1 {
		return "1 fault schedule"
	}
	return fmt.Sprintf("%d fault schedules", n)
}

// chaosSchedule finds, in the output of the chaos run that failed, the schedule in words the battery left as its
// last words ("chaos run 2 of 8 failed (seed 501). What the schedule did:", the numbered choices, the replay line).
func chaosSchedule(rep *gotest.Report) []string {
	for _, t := range rep.Tests {
		if t.Status != gotest.Fail || !strings.HasPrefix(t.Name, lab.ChaosTest+"/") {
			continue
		}
		for i, line := range t.Output {
			if _, after, ok := strings.Cut(line, "chaos run "); ok && strings.Contains(after, "What the schedule did:") {
				var out []string
				for _, l := range t.Output[i:] {
					l = strings.TrimSpace(l)
					if j := strings.Index(l, "chaos run "); j > 0 && len(out) == 0 {
						l = l[j:] // drop the file:line prefix of the log line
					}
					out = append(out, l)
					if strings.HasPrefix(l, "replay this schedule:") {
						break
					}
				}
				return out
			}
		}
	}
	return nil
}

// mistakes names the known wrong fixes the run's failures point at: one by name, or, when several are caught by the
// same failure, as "one of these".
func mistakes(res *kit.RunResult, o Options) []Line {
	var out []Line
	byTest := map[string][]lab.Mistake{}
	var order []string
	for _, m := range res.Mistakes {
		if len(byTest[m.Caught.Test]) == 0 {
			order = append(order, m.Caught.Test)
		}
		byTest[m.Caught.Test] = append(byTest[m.Caught.Test], m)
	}
	for _, test := range order {
		ms := byTest[test]
		if len(ms) == 1 {
			out = append(out, Line{Kind: Mistake, Text: fmt.Sprintf("this looks like a known wrong fix, %s: %s", ms[0].Name, ms[0].Says)})
		} else {
			out = append(out, Line{Kind: Mistake, Text: fmt.Sprintf("%s fails the way these known wrong fixes make it fail (maybe one of them is yours):", test)})
			for _, m := range ms {
				out = append(out, Line{Kind: Mistake, Indent: 1, Text: fmt.Sprintf("%s: %s", m.Name, m.Says)})
			}
		}
		out = append(out, Line{Kind: Mistake, Indent: 1, Text: fmt.Sprintf("it is step %d's concept: %s gives its next hint",
			ms[0].Step, o.cmd("hint", res.Lab.Number, "--step", ms[0].Step))})
	}
	return out
}

// verdict is the run's last word.
func verdict(res *kit.RunResult) Line {
	n := res.Lab.Number
	fail := func(format string, args ...any) Line {
		return Line{Kind: VerdictFail, Text: GlyphFail + " " + fmt.Sprintf(format, args...)}
	}
	switch res.Outcome() {
	case kit.InfraDown:
		return Line{Kind: VerdictFail, Text: fmt.Sprintf("%s lab %d could not run: a service failed, not your code; nothing was recorded", GlyphInfra, n)}
	case kit.NotCounted:
		return fail("lab %d: not counted; nothing was recorded", n)
	case kit.Passed:
		return passed(res)
	}
	if res.ChaosOnly {
		return fail("lab %d: the chaos stage found a broken promise · %s", n, Duration(res.Chaos.Report.Elapsed))
	}
	rep := res.Report
	pass, failed := rep.Counts()
	switch res.Kind {
	case gotest.BuildError:
		return fail("lab %d does not compile", n)
	case gotest.TimedOut:
		return fail("lab %d timed out: %s was still running", n, strings.Join(rep.Timeout, ", "))
	case gotest.Hung:
		return fail("lab %d hangs: %s made no progress", n, orBinary(rep.Hang.Test))
	case gotest.Exited:
		return fail("lab %d: the test binary %s", n, rep.Exit.Sentence)
	case gotest.Panicked:
		return fail("lab %d panicked in %s", n, rep.Panic.Test)
	case gotest.NoTests:
		return fail("lab %d ran no tests", n)
	case gotest.Passed:
		if s, ok := uncaught(res); ok {
			return fail("lab %d: step %d of %d failing · your %s does not catch the planted bug yet · %s", n, s.Number,
				len(res.Lab.Steps), s.Step.Written.Test, Duration(rep.Elapsed+plantedElapsed(s)))
		}
		return fail("lab %d: every step's tests pass, but the chaos stage does not · %s", n, Duration(rep.Elapsed+res.Chaos.Report.Elapsed))
	}
	where := ""
	if res.Current > 0 {
		where = fmt.Sprintf(" step %d of %d failing ·", res.Current, len(res.Lab.Steps))
	}
	return fail("lab %d:%s %d passed, %d failed · %s", n, where, pass, failed, Duration(rep.Elapsed))
}

// uncaught returns the first step whose written test did not catch its planted bug.
func uncaught(res *kit.RunResult) (kit.StepResult, bool) {
	for _, s := range res.Steps {
		if s.Step.Written != nil && (s.Planted == nil || !s.Planted.Caught) {
			return s, true
		}
	}
	return kit.StepResult{}, false
}

func plantedElapsed(s kit.StepResult) time.Duration {
	if s.Planted == nil || s.Planted.Report == nil {
		return 0
	}
	return s.Planted.Report.Elapsed
}

func orBinary(test string) string {
	if test == "" {
		return "the test binary"
	}
	return test
}

func passed(res *kit.RunResult) Line {
	n := res.Lab.Number
	if res.ChaosOnly {
		return Line{Kind: VerdictPass, Text: fmt.Sprintf("%s lab %d: the chaos stage passed · %s", GlyphPass, n, Duration(res.Chaos.Report.Elapsed))}
	}
	pass, _ := res.Report.Counts()
	elapsed := res.Report.Elapsed
	parts := []string{fmt.Sprintf("%s lab %d passed", GlyphPass, n)}
	if len(res.Lab.Steps) > 1 {
		parts = append(parts, fmt.Sprintf("%d steps", len(res.Lab.Steps)))
	}
	parts = append(parts, fmt.Sprintf("%d tests", pass))
	if res.Chaos != nil {
		parts = append(parts, fmt.Sprintf("chaos %d schedules", res.Chaos.Runs))
		elapsed += res.Chaos.Report.Elapsed
	}
	parts = append(parts, Duration(elapsed))
	return Line{Kind: VerdictPass, Text: strings.Join(parts, " · ")}
}

// next says what to type next.
func next(res *kit.RunResult, o Options) []Line {
	n := res.Lab.Number
	switch res.Outcome() {
	case kit.InfraDown:
		return []Line{{Kind: Next, Text: fmt.Sprintf("%s checks the services; then %s again", o.cmd("doctor"), o.cmd("run", n))}}
	case kit.NotCounted:
		return []Line{{Kind: Next, Text: fmt.Sprintf("put those files back, then %s", o.cmd("run", n))}}
	case kit.Passed:
		if res.ChaosOnly {
			return []Line{{Kind: Next, Text: fmt.Sprintf("%s runs the tests and the chaos stage together: that is what passes the lab", o.cmd("run", n))}}
		}
		return []Line{{Kind: Next, Text: fmt.Sprintf("%s shows the reference solution and the follow-up", o.cmd("solution", n))}}
	}
	if res.Kind == gotest.BuildError {
		return nil
	}
	if res.Current > 0 {
		return []Line{{Kind: Next, Text: fmt.Sprintf("stuck? %s gives a hint for step %d", o.cmd("hint", n), res.Current)}}
	}
	return []Line{{Kind: Next, Text: fmt.Sprintf("stuck? %s gives a hint", o.cmd("hint", n))}}
}
