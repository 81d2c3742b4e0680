package gotest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// The runner's tests build the throw-away labs under testdata/ once per test binary and run them.
const (
	labFixture   = "checker/gotest/testdata/lab"
	cheatFixture = "checker/gotest/testdata/cheat"
	// helperEnv makes the test binary act as a checker that runs TestHangsWithChild (see TestMain).
	helperEnv = "GOTEST_HELPER_CHECKER"
	// quickWatchdog stands in for DefaultTestTimeout, so the hang tests take a second, not twelve.
	quickWatchdog = time.Second
	// settle bounds every wait for a process to start or to be gone.
	settle = 20 * time.Second
)

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		os.Exit(helperChecker())
	}
	code := m.Run()
	if fixtureDir != "" {
		os.RemoveAll(fixtureDir)
	}
	os.Exit(code)
}

// helperChecker runs TestHangsWithChild of the binary named by the helper variable, as the checker would, and
// waits: the test kills it.
func helperChecker() int {
	bin := os.Getenv(helperEnv)
	o := fixtureOptions(kitRoot(), labFixture, []string{"TestHangsWithChild"})
	o.TestTimeout = -1
	_, err := Exec(context.Background(), bin, o, nil)
	fmt.Fprintln(os.Stderr, "helper checker: the run ended:", err)
	return 1
}

var (
	fixtureOnce sync.Map // fixture → *builtFixture
	fixtureDir  string
	fixtureMu   sync.Mutex
)

type builtFixture struct {
	once sync.Once
	bin  string
	err  error
}

func kitRoot() string {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		panic(err)
	}
	return root
}

func fixtureOptions(root, fixture string, tests []string) Options {
	return Options{Dir: root, Package: "./" + fixture + "/", LabDir: fixture, Quick: true, Tests: tests,
		TestTimeout: quickWatchdog}
}

// fixture returns run options for the named testdata lab and its test binary, built once.
func fixture(t *testing.T, name string, tests ...string) (Options, string) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs a test binary")
	}
	fixtureMu.Lock()
	if fixtureDir == "" {
		dir, err := os.MkdirTemp("", "gotest-fixtures-")
		if err != nil {
			fixtureMu.Unlock()
			t.Fatal(err)
		}
		fixtureDir = dir
	}
	dir := fixtureDir
	fixtureMu.Unlock()
	v, _ := fixtureOnce.LoadOrStore(name, &builtFixture{})
	f := v.(*builtFixture)
	o := fixtureOptions(kitRoot(), name, tests)
	f.once.Do(func() {
		bo := o
		bo.Binary = filepath.Join(dir, filepath.Base(name)+".test")
		bin, rep, err := Build(context.Background(), bo, nil)
		if err == nil && rep != nil {
			err = fmt.Errorf("build failed: %v", rep.Build)
		}
		f.bin, f.err = bin, err
	})
	if f.err != nil {
		t.Fatalf("build %s: %v", name, f.err)
	}
	return o, f.bin
}

func runFixture(t *testing.T, o Options, bin string) *Report {
	t.Helper()
	rep, err := Exec(context.Background(), bin, o, nil)
	if err != nil {
		t.Fatalf("Exec: %v", err)
	}
	return rep
}

func result(t *testing.T, rep *Report, name string) Result {
	t.Helper()
	r, ok := rep.Test(name)
	if !ok {
		t.Fatalf("no result for %s in %+v", name, rep.Tests)
	}
	return r
}

func TestRunVerdictsAndTheLog(t *testing.T) {
	o, bin := fixture(t, labFixture, "TestPasses", "TestFailsLost", "TestLongLineNoNewline", "TestSubtests")
	o.RunDir = t.TempDir()
	rep := runFixture(t, o, bin)
	if rep.Kind() != Failed || len(rep.NotRun) != 0 || rep.Exit != nil || rep.Hang != nil {
		t.Fatalf("kind = %s, not run = %v, exit = %+v, hang = %+v", rep.Kind(), rep.NotRun, rep.Exit, rep.Hang)
	}
	if r := result(t, rep, "TestPasses"); r.Status != Pass {
		t.Fatalf("TestPasses = %+v", r)
	}
	// 10 kB printed without a newline, then the test passes: the verdict still comes from the test's events.
	if r := result(t, rep, "TestLongLineNoNewline"); r.Status != Pass {
		t.Fatalf("TestLongLineNoNewline = %s, want pass", r.Status)
	}
	lost := result(t, rep, "TestFailsLost")
	if lost.Status != Fail || lost.Marker != "LOST" || lost.Headline != "order o-1 was never stored (1 placed, 0 stored)" {
		t.Fatalf("TestFailsLost = %+v", lost)
	}
	if sub := result(t, rep, "TestSubtests"); sub.Status != Fail || sub.Marker != "DUPLICATE" {
		t.Fatalf("TestSubtests = %+v", sub)
	}
	for _, line := range lost.Output {
		if isFraming(line) {
			t.Fatalf("output keeps the framing line %q", line)
		}
	}
	if rep.LogPath != filepath.Join(o.RunDir, LogName) {
		t.Fatalf("log path = %q", rep.LogPath)
	}
	log, err := os.ReadFile(rep.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(log), strings.Repeat("x", 10*1024)+"--- PASS: TestLongLineNoNewline") ||
		!strings.Contains(string(log), "=== RUN   TestFailsLost") || strings.ContainsRune(string(log), rune(marker)) {
		t.Fatalf("last.log does not hold the run as printed (without ^V):\n%.600s", log)
	}
}

func TestRunSkippedAndMissingTestsAreNotRun(t *testing.T) {
	o, bin := fixture(t, labFixture, "TestPasses", "TestSkips", "TestNoSuchTest")
	rep := runFixture(t, o, bin)
	if rep.Kind() != NotRun || !reflect.DeepEqual(rep.NotRun, []string{"TestSkips", "TestNoSuchTest"}) {
		t.Fatalf("kind = %s, not run = %v", rep.Kind(), rep.NotRun)
	}
}

func TestRunAnInitThatNarrowsTheRunIsNotAPass(t *testing.T) {
	// cheat.go's init() appends -test.run=^TestPasses$ to os.Args, so the failing test never runs.
	o, bin := fixture(t, cheatFixture, "TestPasses", "TestFails")
	rep := runFixture(t, o, bin)
	if rep.Kind() != NotRun || !reflect.DeepEqual(rep.NotRun, []string{"TestFails"}) {
		t.Fatalf("kind = %s, not run = %v, tests = %+v", rep.Kind(), rep.NotRun, rep.Tests)
	}
	if r := result(t, rep, "TestPasses"); r.Status != Pass {
		t.Fatalf("TestPasses = %+v", r)
	}
}

func TestRunExitInTheCodeUnderTest(t *testing.T) {
	o, bin := fixture(t, labFixture, "TestPasses", "TestExits")
	rep := runFixture(t, o, bin)
	if rep.Kind() != Exited || rep.Exit == nil {
		t.Fatalf("kind = %s, exit = %+v", rep.Kind(), rep.Exit)
	}
	want := Exit{Status: 3, Test: "TestExits", Sentence: "exited with status 3 — os.Exit (or log.Fatal) in your code?"}
	if *rep.Exit != want {
		t.Fatalf("exit = %+v, want %+v", *rep.Exit, want)
	}
	if r := result(t, rep, "TestExits"); r.Status != Fail {
		t.Fatalf("TestExits = %+v", r)
	}
}

func TestRunPanicIsLocatedInTheLab(t *testing.T) {
	o, bin := fixture(t, labFixture, "TestPanics")
	rep := runFixture(t, o, bin)
	if rep.Kind() != Panicked || rep.Panic == nil {
		t.Fatalf("kind = %s, panic = %+v", rep.Kind(), rep.Panic)
	}
	want := Panic{Message: "assignment to entry in nil map", At: at(t, "m[\"x\"] = 1"), Test: "TestPanics"}
	if *rep.Panic != want {
		t.Fatalf("panic = %+v, want %+v", *rep.Panic, want)
	}
}

func TestRunInfraIsInfra(t *testing.T) {
	o, bin := fixture(t, labFixture, "TestPasses", "TestInfra")
	rep := runFixture(t, o, bin)
	if rep.Kind() != InfraError || !strings.HasPrefix(rep.Infra, "INFRA: RabbitMQ refused the login") {
		t.Fatalf("kind = %s, infra = %q", rep.Kind(), rep.Infra)
	}
}

func TestRunOutputIsBounded(t *testing.T) {
	o, bin := fixture(t, labFixture, "TestPrintsALot")
	o.RunDir, o.TailLines = t.TempDir(), 40
	// Printing 100,000 lines under -race on a loaded machine can take longer than the watchdog's default: this test
	// is about bounding output, so it gives the printer all the time it needs.
	o.TestTimeout = 2 * time.Minute
	rep := runFixture(t, o, bin)
	r := result(t, rep, "TestPrintsALot")
	if rep.Kind() != Passed || len(r.Output) != 40 || r.Output[39] != "line 100000" || r.Dropped != 100000-40 {
		t.Fatalf("kind = %s, %d lines kept (last %q), %d dropped", rep.Kind(), len(r.Output), last(r.Output), r.Dropped)
	}
	log, err := os.ReadFile(rep.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(log), "\nline 1\n") || !strings.Contains(string(log), "\nline 100000\n") {
		t.Fatal("last.log does not hold every line")
	}
}

// at returns "checker/gotest/testdata/lab/lab.go:N" for the first line of the fixture's lab.go holding code.
func at(t *testing.T, code string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "lab", "lab.go"))
	if err != nil {
		t.Fatal(err)
	}
	for i, line := range strings.Split(string(data), "\n") {
		if strings.Contains(line, code) {
			return fmt.Sprintf("%s/lab.go:%d", labFixture, i+1)
		}
	}
	t.Fatalf("lab.go has no line with %q", code)
	return ""
}

func last(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[len(s)-1]
}

func TestRunHungHandlerIsNamedByFileAndLine(t *testing.T) {
	o, bin := fixture(t, labFixture, "TestPasses", "TestHangs")
	rep := runFixture(t, o, bin)
	if rep.Kind() != Hung || rep.Hang == nil {
		t.Fatalf("kind = %s, hang = %+v", rep.Kind(), rep.Hang)
	}
	h := rep.Hang
	if h.Test != "TestHangs" || h.At != at(t, "<-stop") || h.Func != "Wait" || h.State != "chan receive" {
		t.Fatalf("hang = %+v", *h)
	}
	if h.After < quickWatchdog {
		t.Fatalf("the watchdog fired after %s, before its %s", h.After, quickWatchdog)
	}
	// The verdict follows the watchdog closely: with the default of 12 s it comes within 15 s.
	if over := rep.Elapsed - quickWatchdog; over > DefaultTestTimeout/4 {
		t.Fatalf("the verdict came %s after the watchdog fired", over)
	}
	if r := result(t, rep, "TestHangs"); r.Status != Fail || !r.Hung {
		t.Fatalf("TestHangs = %+v", r)
	}
	if r := result(t, rep, "TestPasses"); r.Status != Pass {
		t.Fatalf("TestPasses = %+v", r)
	}
}

func TestRunHungServeHTTPIsNamed(t *testing.T) {
	o, bin := fixture(t, labFixture, "TestHangsInServeHTTP")
	rep := runFixture(t, o, bin)
	if rep.Kind() != Hung || rep.Hang == nil {
		t.Fatalf("kind = %s, hang = %+v", rep.Kind(), rep.Hang)
	}
	want := Hang{Test: "TestHangsInServeHTTP", After: rep.Hang.After, At: at(t, "<-h.Confirmed"),
		Func: "(*Handler).ServeHTTP", State: "chan receive"}
	if !reflect.DeepEqual(*rep.Hang, want) {
		t.Fatalf("hang = %+v\nwant   %+v", *rep.Hang, want)
	}
}

func TestRunSpinningLoopIsNamed(t *testing.T) {
	o, bin := fixture(t, labFixture, "TestSpins")
	rep := runFixture(t, o, bin)
	if rep.Kind() != Hung || rep.Hang == nil || rep.Hang.Test != "TestSpins" {
		t.Fatalf("kind = %s, hang = %+v", rep.Kind(), rep.Hang)
	}
	if h := rep.Hang; !strings.HasPrefix(h.At, labFixture+"/lab.go:") || h.Func != "Spin" {
		t.Fatalf("hang = %+v, want the loop in Spin", *h)
	}
}

func TestRunBuildErrorIsAReport(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a test binary")
	}
	tmp := t.TempDir()
	broken := filepath.Join(tmp, "lab.go")
	if err := os.WriteFile(broken, []byte("package lab\n\nfunc Wait() int { return \"x\" }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	overlay := filepath.Join(tmp, "overlay.json")
	root := kitRoot()
	json := fmt.Sprintf(`{"Replace":{%q:%q}}`, filepath.Join(root, labFixture, "lab.go"), broken)
	if err := os.WriteFile(overlay, []byte(json), 0o644); err != nil {
		t.Fatal(err)
	}
	o := fixtureOptions(root, labFixture, []string{"TestPasses"})
	o.Overlay, o.CacheDir = overlay, tmp
	var lines []string
	rep, err := Run(context.Background(), o, func(ev Event) {
		if ev.Kind == BuildOutput {
			lines = append(lines, ev.Line)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Kind() != BuildError || len(rep.Build) == 0 || !strings.HasPrefix(rep.Build[0], labFixture+"/lab.go:3:") {
		t.Fatalf("kind = %s, build = %q", rep.Kind(), rep.Build)
	}
	if !reflect.DeepEqual(lines, rep.Build) {
		t.Fatalf("events %q, report %q", lines, rep.Build)
	}
}

func TestRunBuildsOnceAndRunsFromTheCache(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a test binary")
	}
	o := fixtureOptions(kitRoot(), labFixture, []string{"TestPasses"})
	o.CacheDir = t.TempDir()
	var kinds []EventKind
	rep, err := Run(context.Background(), o, func(ev Event) { kinds = append(kinds, ev.Kind) })
	if err != nil {
		t.Fatal(err)
	}
	if rep.Kind() != Passed || rep.BuildElapsed <= 0 || rep.BuildElapsed > rep.Elapsed {
		t.Fatalf("kind = %s, build %s of %s", rep.Kind(), rep.BuildElapsed, rep.Elapsed)
	}
	if want := []EventKind{Built, TestStarted, TestFinished}; !reflect.DeepEqual(kinds, want) {
		t.Fatalf("events = %v, want %v", kinds, want)
	}
	// The run's private copy is gone; the cached binary and its lock stay. A copy left by a checker that was killed
	// (a pid that is no process) goes at the next build.
	stale := filepath.Join(o.CacheDir, names(t, o.CacheDir)[0]+privateMark+"999999999-1")
	if err := os.WriteFile(stale, nil, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Run(context.Background(), o, nil); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(o.CacheDir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if len(names) != 2 || !strings.HasSuffix(names[0], ".test") || !strings.HasSuffix(names[1], ".test.lock") {
		t.Fatalf("cache holds %v", names)
	}
}

func TestRunParallelRunsEachTestInItsOwnBinaryAtOnce(t *testing.T) {
	o, bin := fixture(t, labFixture, "TestMeetA", "TestFailsLost", "TestMeetB", "TestSubtests", "TestLongLineNoNewline")
	o.Processes, o.RunDir = DefaultProcesses, t.TempDir()
	o.Env = []string{"FIXTURE_MEET=" + t.TempDir()}
	var finished []string
	rep, err := Exec(context.Background(), bin, o, func(ev Event) {
		if ev.Kind == TestFinished && ev.Result.Top() {
			finished = append(finished, ev.Test) // serialized: -race sees no data race here
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	// TestMeetA and TestMeetB pass only when they run at the same time.
	var got []string
	for _, r := range rep.Tests {
		got = append(got, r.Name+":"+string(r.Status))
	}
	want := []string{"TestMeetA:pass", "TestFailsLost:fail", "TestMeetB:pass", "TestSubtests/one:pass",
		"TestSubtests/two:fail", "TestSubtests:fail", "TestLongLineNoNewline:pass"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("results = %v\nwant      %v", got, want)
	}
	if rep.Kind() != Failed || len(finished) != 5 || len(rep.NotRun) != 0 {
		t.Fatalf("kind = %s, finished = %v, not run = %v", rep.Kind(), finished, rep.NotRun)
	}
	log, err := os.ReadFile(rep.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	if a, l := strings.Index(string(log), "=== RUN   TestMeetA"), strings.Index(string(log), "=== RUN   TestLongLineNoNewline"); a < 0 || l < a {
		t.Fatalf("last.log is not one test after another:\n%.400s", log)
	}
	if parts, _ := filepath.Glob(filepath.Join(o.RunDir, ".*")); len(parts) != 0 {
		t.Fatalf("left behind: %v", parts)
	}
}

func TestRunParallelHangDoesNotHoldTheOthers(t *testing.T) {
	o, bin := fixture(t, labFixture, "TestHangs", "TestPasses")
	o.Processes = 2
	rep := runFixture(t, o, bin)
	if rep.Kind() != Hung || rep.Hang == nil || rep.Hang.Test != "TestHangs" {
		t.Fatalf("kind = %s, hang = %+v", rep.Kind(), rep.Hang)
	}
	if r := result(t, rep, "TestPasses"); r.Status != Pass {
		t.Fatalf("TestPasses = %+v", r)
	}
}

func TestRunParallelStillCatchesAnInitThatNarrowsTheRun(t *testing.T) {
	o, bin := fixture(t, cheatFixture, "TestPasses", "TestFails")
	o.Processes = 2
	rep := runFixture(t, o, bin)
	if rep.Kind() != NotRun || !reflect.DeepEqual(rep.NotRun, []string{"TestFails"}) {
		t.Fatalf("kind = %s, not run = %v", rep.Kind(), rep.NotRun)
	}
	if pass, fail := rep.Counts(); pass != 1 || fail != 0 {
		t.Fatalf("counts = %d passed, %d failed: a test that ran in another test's binary counts once", pass, fail)
	}
}

func names(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}
