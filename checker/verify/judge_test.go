package verify

import (
	"strings"
	"testing"
	"time"

	"msglabs/checker/gotest"
	"msglabs/checker/lab"
)

var acks = lab.Lab{Number: 3, Slug: "03-consumer-acks", Steps: []lab.Step{{Failing: []lab.Failing{
	{Test: "TestCrashAfterReceive", Marker: "LOST"},
	{Test: "TestRedelivery", Marker: "DUPLICATE"},
}}}}

// guarded is acks with a guard.
var guarded = lab.Lab{Number: 3, Slug: "03-consumer-acks", Steps: []lab.Step{{Failing: acks.Steps[0].Failing,
	Guards: []string{"TestHappyPath"}}}}

// twoSteps has a step per concept: step 2's test fails until step 2 is done.
var twoSteps = lab.Lab{Number: 6, Slug: "06-outbox", Steps: []lab.Step{
	{Title: "the outbox row", Failing: []lab.Failing{{Test: "TestCrashAfterCommit", Marker: "LOST"}}, Guards: []string{"TestHappy"}},
	{Title: "the relay", Failing: []lab.Failing{{Test: "TestTwoRelays", Marker: "DUPLICATE"}}},
}}

func TestJudgeStep(t *testing.T) {
	cases := []struct {
		name string
		rep  *gotest.Report
		want string
	}{
		{"as declared", report(pass("TestCrashAfterCommit"), pass("TestHappy"), fail("TestTwoRelays", "DUPLICATE")), ""},
		{"step 2 already done", report(pass("TestCrashAfterCommit"), pass("TestHappy"), pass("TestTwoRelays")),
			"after step 1: TestTwoRelays passed, expected it to fail with DUPLICATE"},
		{"step 1 undone", report(fail("TestCrashAfterCommit", "LOST"), pass("TestHappy"), fail("TestTwoRelays", "DUPLICATE")),
			"after step 1: TestCrashAfterCommit (step 1's test) fails (LOST: it went wrong), expected it to pass"},
		{"a guard of step 1 not run", report(pass("TestCrashAfterCommit"), fail("TestTwoRelays", "DUPLICATE")),
			"after step 1: TestHappy (step 1's test) did not run"},
		{"build error", &gotest.Report{Build: []string{"labs/06/relay.go:3:1: syntax error"}, PackageFail: true},
			"after step 1: does not compile: labs/06/relay.go:3:1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := JudgeStep(twoSteps, 2, tc.rep)
			if tc.want == "" && got != "" || tc.want != "" && !strings.Contains(got, tc.want) {
				t.Fatalf("JudgeStep = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestJudgeMistakeAndChaos(t *testing.T) {
	m := lab.Mistake{Name: "record-first", Step: 1, Caught: lab.Failing{Test: "TestCrashBeforeCommit", Marker: "LOST"}}
	if got := JudgeMistake(m, report(fail("TestCrashBeforeCommit", "LOST"))); got != "" {
		t.Fatalf("caught mistake: %q", got)
	}
	if got := JudgeMistake(m, &gotest.Report{Tests: []gotest.Result{pass("TestCrashBeforeCommit")}}); got !=
		"mistake record-first is not caught: TestCrashBeforeCommit passed, expected it to fail with LOST" {
		t.Fatalf("uncaught mistake: %q", got)
	}
	if got := JudgeMistake(m, report(fail("TestCrashBeforeCommit", "DUPLICATE"))); !strings.Contains(got, "failed with DUPLICATE, expected LOST") {
		t.Fatalf("mistake caught with another marker: %q", got)
	}
	if got := JudgeChaos(report(fail("TestChaos", "LOST"))); got != "solution fails the chaos stage: TestChaos (LOST: it went wrong)" {
		t.Fatalf("chaos: %q", got)
	}
	if got := JudgeChaos(with(&gotest.Report{}, func(r *gotest.Report) { r.NotRun = []string{"TestChaos"} })); !strings.Contains(got, "TestChaos (did not run)") {
		t.Fatalf("chaos skipped: %q", got)
	}
}

func pass(name string) gotest.Result { return gotest.Result{Name: name, Status: gotest.Pass} }

func fail(name, marker string) gotest.Result {
	return gotest.Result{Name: name, Status: gotest.Fail, Marker: marker, Headline: "it went wrong"}
}

func report(results ...gotest.Result) *gotest.Report {
	return &gotest.Report{Tests: results, PackageFail: true}
}

func with(r *gotest.Report, f func(*gotest.Report)) *gotest.Report {
	f(r)
	return r
}

func TestJudgeStarter(t *testing.T) {
	cases := []struct {
		name string
		rep  *gotest.Report
		want string // "" = as expected; otherwise a part of the reason
	}{
		{"exactly as declared", report(pass("TestHappy"), fail("TestCrashAfterReceive", "LOST"), fail("TestRedelivery", "DUPLICATE")), ""},
		{"subtest failures count for their parent", report(fail("TestCrashAfterReceive/one", "LOST"), fail("TestCrashAfterReceive", "LOST"), fail("TestRedelivery", "DUPLICATE")), ""},
		{"starter passes", &gotest.Report{Tests: []gotest.Result{pass("TestCrashAfterReceive"), pass("TestRedelivery")}}, "starter passes"},
		{"expected failure passes", report(fail("TestCrashAfterReceive", "LOST"), pass("TestRedelivery")), "TestRedelivery passed, expected it to fail with DUPLICATE"},
		{"wrong marker", report(fail("TestCrashAfterReceive", "STALLED"), fail("TestRedelivery", "DUPLICATE")), "TestCrashAfterReceive failed with STALLED, expected LOST"},
		{"no marker", report(fail("TestCrashAfterReceive", ""), fail("TestRedelivery", "DUPLICATE")), "failed without a marker"},
		{"unexpected failure", report(fail("TestCrashAfterReceive", "LOST"), fail("TestRedelivery", "DUPLICATE"), fail("TestHappy", "LOST")), "TestHappy failed but is not listed"},
		{"test missing", report(fail("TestCrashAfterReceive", "LOST")), "TestRedelivery did not run"},
		{"build error", &gotest.Report{Build: []string{"labs/03/acks.go:3:1: syntax error"}, PackageFail: true}, "does not compile: labs/03/acks.go:3:1"},
		{"infra", with(report(fail("TestCrashAfterReceive", "INFRA"), fail("TestRedelivery", "DUPLICATE")), func(r *gotest.Report) { r.Infra = "INFRA: RabbitMQ is down" }), "could not reach its services"},
		{"panic", with(report(fail("TestCrashAfterReceive", ""), fail("TestRedelivery", "DUPLICATE")), func(r *gotest.Report) {
			r.Panic = &gotest.Panic{Message: "nil map", At: "labs/03/acks.go:9", Test: "TestCrashAfterReceive"}
		}), "panicked in TestCrashAfterReceive: nil map at labs/03/acks.go:9"},
		{"timeout", with(report(fail("TestCrashAfterReceive", "LOST"), fail("TestRedelivery", "")), func(r *gotest.Report) { r.Timeout = []string{"TestRedelivery"} }), "timed out in TestRedelivery"},
		{"hang", with(report(fail("TestCrashAfterReceive", "LOST"), fail("TestRedelivery", "")), func(r *gotest.Report) {
			r.Hang = &gotest.Hang{Test: "TestRedelivery", After: 12 * time.Second, At: "labs/03/acks.go:40", Func: "(*Billing).Handle"}
		}), "hangs: TestRedelivery made no progress for 12s, stuck at labs/03/acks.go:40 in (*Billing).Handle"},
		{"exit", with(report(fail("TestCrashAfterReceive", "LOST"), fail("TestRedelivery", "")), func(r *gotest.Report) {
			r.Exit = &gotest.Exit{Status: 3, Test: "TestRedelivery", Sentence: "exited with status 3 — os.Exit (or log.Fatal) in your code?"}
		}), "test binary exited with status 3 — os.Exit (or log.Fatal) in your code? (in TestRedelivery)"},
		{"skipped", with(report(fail("TestCrashAfterReceive", "LOST"), gotest.Result{Name: "TestRedelivery", Status: gotest.Skip}), func(r *gotest.Report) {
			r.NotRun = []string{"TestRedelivery"}
		}), "TestRedelivery did not run"},
		{"guard fails", report(fail("TestCrashAfterReceive", "LOST"), fail("TestRedelivery", "DUPLICATE"), fail("TestHappyPath", "LOST")), "TestHappyPath (a guard test) fails (LOST: it went wrong), expected it to pass"},
		{"guard missing", report(fail("TestCrashAfterReceive", "LOST"), fail("TestRedelivery", "DUPLICATE")), "TestHappyPath (a guard test) did not run"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := acks
			if strings.HasPrefix(tc.name, "guard") {
				l = guarded
			}
			got := JudgeStarter(l, tc.rep)
			if tc.want == "" && got != "" || tc.want != "" && !strings.Contains(got, tc.want) {
				t.Fatalf("JudgeStarter = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestJudgeSolution(t *testing.T) {
	cases := []struct {
		name string
		rep  *gotest.Report
		want string
	}{
		{"passes", &gotest.Report{Tests: []gotest.Result{pass("TestA"), pass("TestA")}}, ""},
		{"fails once in five", report(pass("TestA"), fail("TestA", "LOST"), pass("TestA")), "solution fails TestA (LOST: it went wrong)"},
		{"data race", with(&gotest.Report{Tests: []gotest.Result{pass("TestA")}}, func(r *gotest.Report) { r.Race = true }), "data race"},
		{"no tests", &gotest.Report{}, "no tests"},
		{"build error", &gotest.Report{Build: []string{"x.go:1:1: oops"}}, "solution does not compile"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := JudgeSolution(tc.rep)
			if tc.want == "" && got != "" || tc.want != "" && !strings.Contains(got, tc.want) {
				t.Fatalf("JudgeSolution = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestSummarize(t *testing.T) {
	s := Summarize(report(fail("TestB", "DUPLICATE"), fail("TestA/sub", "LOST"), fail("TestA", "LOST"), pass("TestC")))
	if strings.Join(s.FailedTests, ",") != "TestA,TestB" || s.Markers["TestA"] != "LOST" || s.Passed {
		t.Fatalf("summary = %+v", s)
	}
}
