package gotest

import (
	"os"
	"reflect"
	"strings"
	"testing"
)

const labDir = "labs/03-consumer-acks"

func parseFile(t *testing.T, name string) (*Report, []Event) {
	t.Helper()
	f, err := os.Open("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var events []Event
	rep, err := Parse(f, ParseOptions{LabDir: labDir}, func(ev Event) { events = append(events, ev) })
	if err != nil {
		t.Fatal(err)
	}
	return rep, events
}

func finished(events []Event) []string {
	var names []string
	for _, ev := range events {
		if ev.Kind == TestFinished {
			names = append(names, ev.Test+":"+string(ev.Result.Status))
		}
	}
	return names
}

func TestParsePass(t *testing.T) {
	rep, events := parseFile(t, "pass.jsonl")
	if rep.Kind() != Passed || len(rep.Failed()) != 0 {
		t.Fatalf("kind = %s, failed = %v", rep.Kind(), rep.Failed())
	}
	want := []string{"TestA:pass", "TestB/sub:pass", "TestB:pass"}
	if got := finished(events); !reflect.DeepEqual(got, want) {
		t.Fatalf("finished = %v, want %v", got, want)
	}
	if rep.Package != "msglabs/labs/03-consumer-acks" {
		t.Fatalf("package = %q", rep.Package)
	}
}

func TestParseFailureStory(t *testing.T) {
	rep, events := parseFile(t, "fail.jsonl")
	if got := finished(events); len(got) != 5 {
		t.Fatalf("finished = %v", got)
	}
	r, ok := rep.Test("TestCrashAfterReceive")
	if !ok || r.Status != Fail || r.Marker != "LOST" {
		t.Fatalf("TestCrashAfterReceive = %+v", r)
	}
	if r.Headline != "order o-17 was never billed (1 placed, 0 billed)" {
		t.Fatalf("headline = %q", r.Headline)
	}
	wantStory := "LOST: order o-17 was never billed (1 placed, 0 billed)\n\ntimeline:\n  0.001s  orders   publish PlaceOrder o-17\n  0.004s  billing  CRASH after receive"
	if r.Story != wantStory {
		t.Fatalf("story =\n%s\nwant\n%s", r.Story, wantStory)
	}
	// A parent takes the marker of its failed subtest.
	if p, _ := rep.Test("TestSub"); p.Marker != "DUPLICATE" || p.Headline != "billed twice" {
		t.Fatalf("TestSub = %+v", p)
	}
	if ok, _ := rep.Test("TestOK"); ok.Status != Pass {
		t.Fatalf("TestOK = %+v", ok)
	}
	// An INFRA story makes the whole run an environment problem.
	if rep.Kind() != InfraError || !strings.HasPrefix(rep.Infra, "INFRA: RabbitMQ is not reachable") {
		t.Fatalf("kind = %s, infra = %q", rep.Kind(), rep.Infra)
	}
	var names []string
	for _, f := range rep.Failed() {
		names = append(names, f.Name+"="+f.Marker)
	}
	if want := "TestCrashAfterReceive=LOST TestSub=DUPLICATE TestInfra=INFRA"; strings.Join(names, " ") != want {
		t.Fatalf("failed = %v, want %s", names, want)
	}
}

func TestParseBuildFailure(t *testing.T) {
	rep, events := parseFile(t, "build.jsonl")
	if rep.Kind() != BuildError {
		t.Fatalf("kind = %s", rep.Kind())
	}
	want := []string{
		`labs/03-consumer-acks/acks.go:2:23: cannot use "x" (untyped string constant) as int value in return statement`,
		"labs/03-consumer-acks/acks_test.go:3:27: undefined: undefinedThing",
	}
	if !reflect.DeepEqual(rep.Build, want) {
		t.Fatalf("build = %q", rep.Build)
	}
	if len(events) != 2 || events[0].Kind != BuildOutput {
		t.Fatalf("events = %+v", events)
	}
}

func TestParseBuildFailureWithoutBuildEvents(t *testing.T) {
	// Before Go 1.24 the compiler's messages came as package output.
	stream := `{"Action":"output","Package":"msglabs/labs/x","Output":"# msglabs/labs/x\n"}
{"Action":"output","Package":"msglabs/labs/x","Output":"labs/x/x.go:3:2: undefined: foo\n"}
{"Action":"fail","Package":"msglabs/labs/x","Elapsed":0,"FailedBuild":"msglabs/labs/x"}
`
	rep, err := Parse(strings.NewReader(stream), ParseOptions{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Kind() != BuildError || len(rep.Build) != 1 || rep.Build[0] != "labs/x/x.go:3:2: undefined: foo" {
		t.Fatalf("kind = %s, build = %q", rep.Kind(), rep.Build)
	}
}

func TestParsePanic(t *testing.T) {
	rep, _ := parseFile(t, "panic.jsonl")
	if rep.Kind() != Panicked {
		t.Fatalf("kind = %s", rep.Kind())
	}
	want := Panic{Message: "assignment to entry in nil map", At: "labs/03-consumer-acks/x.go:2", Test: "TestPanics"}
	if *rep.Panic != want {
		t.Fatalf("panic = %+v, want %+v", *rep.Panic, want)
	}
	if r, _ := rep.Test("TestPanics"); r.Status != Fail || r.Panic == nil {
		t.Fatalf("TestPanics = %+v", r)
	}
}

func TestParseTimeout(t *testing.T) {
	rep, events := parseFile(t, "hang.jsonl")
	if rep.Kind() != TimedOut || !reflect.DeepEqual(rep.Timeout, []string{"TestHangs"}) {
		t.Fatalf("kind = %s, timeout = %v", rep.Kind(), rep.Timeout)
	}
	// The hung test never got a fail event; the parser closes it when the stream ends.
	if got := finished(events); !reflect.DeepEqual(got, []string{"TestQuick:pass", "TestHangs:fail"}) {
		t.Fatalf("finished = %v", got)
	}
	if r, _ := rep.Test("TestHangs"); !r.TimedOut || r.Panic != nil {
		t.Fatalf("TestHangs = %+v", r)
	}
}

func TestParseStrayLinesAndRace(t *testing.T) {
	stream := `go: downloading something
{"Action":"run","Package":"p","Test":"TestR"}
{"Action":"output","Package":"p","Test":"TestR","Output":"==================\n"}
{"Action":"output","Package":"p","Test":"TestR","Output":"WARNING: DATA RACE\n"}
{"Action":"output","Package":"p","Test":"TestR","Output":"    testing.go:1617: race detected during execution of test\n"}
{"Action":"fail","Package":"p","Test":"TestR","Elapsed":0.1}
{"Action":"fail","Package":"p","Elapsed":0.2}
`
	rep, err := Parse(strings.NewReader(stream), ParseOptions{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Race || rep.Kind() != Failed || rep.Stderr != "go: downloading something" {
		t.Fatalf("race = %v, kind = %s, stray = %q", rep.Race, rep.Kind(), rep.Stderr)
	}
}

func TestFindStory(t *testing.T) {
	out := []string{
		"=== RUN   TestX",
		"    x_test.go:10: setting up",
		"    x_test.go:42: STALLED: the saga waits forever",
		"        ",
		"        timeline:",
		"          +0.1s  saga  started",
		"    x_test.go:43: another message",
		"--- FAIL: TestX (0.10s)",
	}
	m, h, s := FindStory(out)
	if m != "STALLED" || h != "the saga waits forever" || s != "STALLED: the saga waits forever\n\ntimeline:\n  +0.1s  saga  started" {
		t.Fatalf("got %q %q %q", m, h, s)
	}
	if m, _, _ := FindStory([]string{"    x_test.go:1: LOSTLESS: no"}); m != "" {
		t.Fatalf("marker %q from a word that only starts like one", m)
	}
}

func TestArgs(t *testing.T) {
	o := Options{Package: "./labs/x/", Race: true, Count: 3, Tags: []string{"solution"}, Overlay: "/tmp/o.json",
		Quick: true, Tests: []string{"TestA", "TestB.c"}}
	got := strings.Join(o.buildArgs("/c/x.test"), " ")
	want := "test -c -o /c/x.test -vet=off -ldflags=-s -w -race -tags=solution -overlay=/tmp/o.json ./labs/x/"
	if got != want {
		t.Fatalf("build args = %s\nwant         %s", got, want)
	}
	got = strings.Join(o.testArgs(), " ")
	want = `-test.v=test2json -test.paniconexit0 -test.timeout=1m30s -test.count=3 -test.run=^(TestA|TestB\.c)$`
	if got != want {
		t.Fatalf("test args = %s\nwant        %s", got, want)
	}
}

// Parallel subtests finish in any order; their parent's story is that of the first failed one as declared (as
// started), so a README's headline and a named mistake do not change from run to run.
func TestAParentTellsItsFirstDeclaredSubtestsStory(t *testing.T) {
	stream := `{"Action":"run","Test":"TestCrash"}
{"Action":"run","Test":"TestCrash/as_it_commits"}
{"Action":"run","Test":"TestCrash/as_it_publishes"}
{"Action":"output","Test":"TestCrash/as_it_publishes","Output":"    x_test.go:9: LOST: order o-1 died as it published\n"}
{"Action":"fail","Test":"TestCrash/as_it_publishes","Elapsed":0.1}
{"Action":"output","Test":"TestCrash/as_it_commits","Output":"    x_test.go:9: LOST: order o-1 died as it committed\n"}
{"Action":"fail","Test":"TestCrash/as_it_commits","Elapsed":0.2}
{"Action":"fail","Test":"TestCrash","Elapsed":0.2}
`
	rep, err := Parse(strings.NewReader(stream), ParseOptions{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	parent, ok := rep.Test("TestCrash")
	if !ok || parent.Marker != "LOST" || !strings.Contains(parent.Headline, "as it committed") {
		t.Fatalf("TestCrash: marker %q, headline %q; want the story of as_it_commits, declared first", parent.Marker, parent.Headline)
	}
}
