// Package verify is the kit's self-test. For every lab: the shipped starter fails exactly as its lab.yaml says,
// each step's state before it fails that step's tests and passes the earlier steps', the reference solution passes
// the visible tests under the race detector and the chaos stage, and every mistake fixture is caught by its test
// with its marker. It never touches the attendee's files: every variant is put in place with `go test -overlay`,
// from the sealed blobs.
package verify

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"msglabs/checker/gotest"
	"msglabs/checker/lab"
)

// Starter is what the starter run showed.
type Starter struct {
	Passed      bool              `json:"passed"`
	FailedTests []string          `json:"failed_tests"`
	Markers     map[string]string `json:"markers"`
}

// Summarize reduces a report to the starter facts: top-level failed tests and their markers.
func Summarize(rep *gotest.Report) Starter {
	s := Starter{Passed: rep.Kind() == gotest.Passed, FailedTests: []string{}, Markers: map[string]string{}}
	for _, t := range rep.Failed() {
		if _, seen := s.Markers[t.Name]; seen {
			continue
		}
		s.FailedTests = append(s.FailedTests, t.Name)
		s.Markers[t.Name] = t.Marker
	}
	sort.Strings(s.FailedTests)
	return s
}

// JudgeStarter decides whether the shipped starter failed exactly as the lab declares: every step's failing tests
// failed, each carrying its marker; the guards passed; nothing else failed. A build error, INFRA, a panic, a hang,
// a time-out or an early exit is never a valid failure. It returns "" when the starter is as expected, otherwise
// the reason it is not.
func JudgeStarter(l lab.Lab, rep *gotest.Report) string {
	if why := notAFailure(rep); why != "" {
		return "starter " + why
	}
	if rep.Kind() == gotest.Passed {
		return "starter passes; expected " + expectedList(l.AllFailing()) + " to fail"
	}
	probs := failsAsDeclared(l.AllFailing(), rep)
	for _, s := range l.Steps {
		probs = append(probs, passes(s.Guards, rep, "a guard")...)
		if s.Written != nil {
			probs = append(probs, passes([]string{s.Written.Test}, rep, "the attendee's shipped")...)
		}
	}
	for _, name := range Summarize(rep).FailedTests {
		if _, expected := l.FailingMarker(name); !expected && !slices.Contains(l.Visible(), name) {
			probs = append(probs, fmt.Sprintf("%s failed but is not listed in any step", name))
		}
	}
	return strings.Join(probs, "; ")
}

// JudgeStep decides whether, in the state after step k-1, step k's failing tests fail with their markers and every
// test of the steps before k passes. Later steps are not judged: their fixes are not in yet.
func JudgeStep(l lab.Lab, k int, rep *gotest.Report) string {
	where := fmt.Sprintf("after step %d", k-1)
	if why := notAFailure(rep); why != "" {
		return where + ": " + why
	}
	probs := failsAsDeclared(l.Steps[k-1].Failing, rep)
	for j := 1; j < k; j++ {
		probs = append(probs, passes(l.Steps[j-1].Tests(), rep, fmt.Sprintf("step %d's", j))...)
	}
	if len(probs) == 0 {
		return ""
	}
	return where + ": " + strings.Join(probs, "; ")
}

// JudgeSolution decides whether the solution passed every visible test, without a data race; "" when it did.
func JudgeSolution(rep *gotest.Report) string {
	if why := notAFailure(rep); why != "" {
		return "solution " + why
	}
	if rep.Race {
		return "solution has a data race"
	}
	switch rep.Kind() {
	case gotest.Passed:
		return ""
	case gotest.NoTests:
		return "solution run had no tests"
	}
	if parts := failures(rep); len(parts) > 0 {
		return "solution fails " + strings.Join(parts, ", ")
	}
	return "solution failed"
}

// JudgeChaos decides whether the solution passed the chaos stage (TestChaos); "" when it did.
func JudgeChaos(rep *gotest.Report) string {
	if why := notAFailure(rep); why != "" {
		return "chaos stage " + why
	}
	if rep.Kind() == gotest.Passed {
		return ""
	}
	if parts := failures(rep); len(parts) > 0 {
		return "solution fails the chaos stage: " + strings.Join(parts, ", ")
	}
	return "solution failed the chaos stage"
}

// JudgeMistake decides whether mistake m was caught: its declared test failed with its marker. It returns what
// happened instead otherwise.
func JudgeMistake(m lab.Mistake, rep *gotest.Report) string {
	if why := notAFailure(rep); why != "" {
		return fmt.Sprintf("mistake %s %s", m.Name, why)
	}
	if probs := failsAsDeclared([]lab.Failing{m.Caught}, rep); len(probs) > 0 {
		return fmt.Sprintf("mistake %s is not caught: %s", m.Name, strings.Join(probs, "; "))
	}
	return ""
}

// JudgePlanted decides whether the reference test of a written step caught the planted bug: it failed with the
// step's marker against it. It returns what happened instead otherwise.
func JudgePlanted(w lab.Written, rep *gotest.Report) string {
	if why := notAFailure(rep); why != "" {
		return fmt.Sprintf("planted bug %s: the reference %s", w.Planted, why)
	}
	if probs := failsAsDeclared([]lab.Failing{{Test: w.Test, Marker: w.Marker}}, rep); len(probs) > 0 {
		return fmt.Sprintf("planted bug %s is not caught by the reference test: %s", w.Planted, strings.Join(probs, "; "))
	}
	return ""
}

// JudgePlantedBefore decides whether, before its step is done, the attendee's test of a written step (as shipped)
// passes against the planted bug: otherwise the step would pass before the attendee wrote anything.
func JudgePlantedBefore(w lab.Written, rep *gotest.Report) string {
	if why := notAFailure(rep); why != "" {
		return fmt.Sprintf("planted bug %s: the shipped %s %s", w.Planted, w.Test, why)
	}
	if probs := passes([]string{w.Test}, rep, "the attendee's shipped"); len(probs) > 0 {
		return fmt.Sprintf("planted bug %s is caught before the attendee writes the test: %s", w.Planted, strings.Join(probs, "; "))
	}
	return ""
}

// failsAsDeclared lists the tests of want that did not fail with their marker.
func failsAsDeclared(want []lab.Failing, rep *gotest.Report) []string {
	s := Summarize(rep)
	var probs []string
	for _, f := range want {
		got, failed := s.Markers[f.Test]
		r, ran := rep.Test(f.Test)
		switch {
		case !ran || r.Status == gotest.Skip || slices.Contains(rep.NotRun, f.Test):
			probs = append(probs, fmt.Sprintf("%s did not run", f.Test))
		case !failed:
			probs = append(probs, fmt.Sprintf("%s passed, expected it to fail with %s", f.Test, f.Marker))
		case got == "":
			probs = append(probs, fmt.Sprintf("%s failed without a marker, expected %s:", f.Test, f.Marker))
		case got != f.Marker:
			probs = append(probs, fmt.Sprintf("%s failed with %s, expected %s", f.Test, got, f.Marker))
		case !strings.Contains(r.Headline, f.Headline):
			probs = append(probs, fmt.Sprintf("%s failed with %s, but its headline lacks %q (the piece that names this mistake): %s",
				f.Test, got, f.Headline, r.Headline))
		}
	}
	return probs
}

// passes lists the tests of names that did not pass; what says whose tests they are ("a guard", "step 1's").
func passes(names []string, rep *gotest.Report, what string) []string {
	s := Summarize(rep)
	var probs []string
	for _, name := range names {
		if _, failed := s.Markers[name]; failed {
			probs = append(probs, fmt.Sprintf("%s (%s test) fails%s, expected it to pass", name, what, markerOf(rep, name)))
			continue
		}
		if r, ran := rep.Test(name); !ran || r.Status != gotest.Pass || slices.Contains(rep.NotRun, name) {
			probs = append(probs, fmt.Sprintf("%s (%s test) did not run", name, what))
		}
	}
	return probs
}

func markerOf(rep *gotest.Report, name string) string {
	if r, _ := rep.Test(name); r.Marker != "" {
		return " (" + r.Marker + ": " + r.Headline + ")"
	}
	for _, r := range rep.Failed() {
		if r.Name == name && r.Marker != "" {
			return " (" + r.Marker + ": " + r.Headline + ")"
		}
	}
	return ""
}

// failures names each failed top-level test once, with its marker and headline.
func failures(rep *gotest.Report) []string {
	var parts []string
	seen := map[string]bool{}
	for _, t := range rep.Failed() {
		if seen[t.Name] {
			continue
		}
		seen[t.Name] = true
		if t.Marker != "" {
			parts = append(parts, fmt.Sprintf("%s (%s: %s)", t.Name, t.Marker, t.Headline))
		} else {
			parts = append(parts, t.Name)
		}
	}
	for _, n := range rep.NotRun {
		parts = append(parts, n+" (did not run)")
	}
	return parts
}

// notAFailure names a run outcome that is not a test judgement at all: build error, INFRA, hang, time-out,
// panic, early exit.
func notAFailure(rep *gotest.Report) string {
	switch rep.Kind() {
	case gotest.BuildError:
		first := "build failed"
		if len(rep.Build) > 0 {
			first = rep.Build[0]
		}
		return "does not compile: " + first
	case gotest.InfraError:
		return "could not reach its services: " + firstLine(rep.Infra)
	case gotest.Hung:
		h := rep.Hang
		where := ""
		if h.At != "" {
			where = fmt.Sprintf(", stuck at %s in %s", h.At, h.Func)
		}
		return fmt.Sprintf("hangs: %s made no progress for %s%s (a failure must be reported, not hang)",
			orBinary(h.Test), h.After, where)
	case gotest.TimedOut:
		return "timed out in " + strings.Join(rep.Timeout, ", ") + " (a failure must be reported, not hang)"
	case gotest.Panicked:
		where := ""
		if rep.Panic.At != "" {
			where = " at " + rep.Panic.At
		}
		return fmt.Sprintf("panicked in %s: %s%s", orBinary(rep.Panic.Test), rep.Panic.Message, where)
	case gotest.Exited:
		return fmt.Sprintf("test binary %s (in %s)", rep.Exit.Sentence, orBinary(rep.Exit.Test))
	}
	return ""
}

func orBinary(test string) string {
	if test == "" {
		return "the test binary"
	}
	return test
}

func expectedList(fs []lab.Failing) string {
	var parts []string
	for _, f := range fs {
		parts = append(parts, f.Test+" ("+f.Marker+")")
	}
	return strings.Join(parts, ", ")
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
