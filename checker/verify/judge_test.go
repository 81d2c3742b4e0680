package verify

import (
	"strings"
	"testing"

	"msglabs/checker/gotest"
	"msglabs/checker/lab"
)

var acks = lab.Lab{Number: 3, Slug: "03-consumer-acks", Steps: []lab.Step{{Failing: []lab.Failing{
	{Test: "TestCrashAfterReceive", Marker: "LOST"},
	{Test: "TestRedelivery", Marker: "DUPLICATE"},
}}}}

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
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := JudgeStarter(acks, tc.rep)
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
