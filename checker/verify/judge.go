// Package verify is the kit's self-test: every shipped starter fails exactly as its lab.yaml says, with the right
// markers, and every reference solution passes under the race detector. It never touches the attendee's files: the
// shipped starter and the solutions are put in place with `go test -overlay`.
package verify

import (
	"fmt"
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

// Solution is what the solution run showed.
type Solution struct {
	Passed bool `json:"passed"`
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

// JudgeStarter decides whether the shipped starter failed exactly as the lab declares: only the `failing` tests
// failed, each carrying its marker. A build error, INFRA, a panic or a time-out is never a valid failure. It returns
// "" when the starter is as expected, otherwise the reason it is not.
func JudgeStarter(l lab.Lab, rep *gotest.Report) string {
	if why := notAFailure(rep); why != "" {
		return "starter " + why
	}
	s := Summarize(rep)
	if rep.Kind() == gotest.Passed {
		return "starter passes; expected " + expectedList(l) + " to fail"
	}
	var probs []string
	for _, f := range l.AllFailing() {
		got, failed := s.Markers[f.Test]
		_, ran := rep.Test(f.Test)
		switch {
		case !ran:
			probs = append(probs, fmt.Sprintf("%s did not run", f.Test))
		case !failed:
			probs = append(probs, fmt.Sprintf("%s passed, expected it to fail with %s", f.Test, f.Marker))
		case got == "":
			probs = append(probs, fmt.Sprintf("%s failed without a marker, expected %s:", f.Test, f.Marker))
		case got != f.Marker:
			probs = append(probs, fmt.Sprintf("%s failed with %s, expected %s", f.Test, got, f.Marker))
		}
	}
	for _, name := range s.FailedTests {
		if _, expected := l.FailingMarker(name); !expected {
			probs = append(probs, fmt.Sprintf("%s failed but is not listed under failing", name))
		}
	}
	return strings.Join(probs, "; ")
}

// JudgeSolution decides whether the solution passed; "" when it did, otherwise the reason.
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
	if len(parts) == 0 {
		return "solution failed"
	}
	return "solution fails " + strings.Join(parts, ", ")
}

// notAFailure names a run outcome that is not a test judgement at all: build error, INFRA, time-out, panic.
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
	case gotest.TimedOut:
		return "timed out in " + strings.Join(rep.Timeout, ", ") + " (a failure must be reported, not hang)"
	case gotest.Panicked:
		where := ""
		if rep.Panic.At != "" {
			where = " at " + rep.Panic.At
		}
		return fmt.Sprintf("panicked in %s: %s%s", rep.Panic.Test, rep.Panic.Message, where)
	}
	return ""
}

func expectedList(l lab.Lab) string {
	var parts []string
	for _, f := range l.AllFailing() {
		parts = append(parts, f.Test+" ("+f.Marker+")")
	}
	return strings.Join(parts, ", ")
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
