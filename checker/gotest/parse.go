// Package gotest builds a lab's test binary, runs exactly the tests it is asked for, and turns the binary's output
// into per-test results that carry the lab failure markers (LOST:, DUPLICATE:, …), plus the things that are not
// test failures at all: build errors, panics, hangs, time-outs, early exits, tests that never ran, and INFRA.
package gotest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"

	"msglabs/shared/story"
)

// Status is the outcome of one test.
type Status string

// Test outcomes.
const (
	Pass    Status = "pass"
	Fail    Status = "fail"
	Skip    Status = "skip"
	Running Status = "running"
)

// Infra is the marker of an environment problem, not a lab failure.
const Infra = string(story.Infra)

// Result is one finished test.
type Result struct {
	Name     string        `json:"name"`
	Status   Status        `json:"status"`
	Elapsed  time.Duration `json:"elapsed"`
	Marker   string        `json:"marker,omitempty"`   // LOST, DUPLICATE, …, INFRA; "" when the failure carries none
	Headline string        `json:"headline,omitempty"` // the sentence after the marker
	Story    string        `json:"story,omitempty"`    // marker, sentence and timeline, without the file:line prefix
	Panic    *Panic        `json:"panic,omitempty"`    // set when the test panicked
	TimedOut bool          `json:"timed_out,omitempty"`
	Hung     bool          `json:"hung,omitempty"` // the watchdog stopped the binary while this test ran (see Report.Hang)
	// Output is the tail of what the test printed: its last ParseOptions.TailLines lines (default 40), without the
	// === RUN / --- PASS bookkeeping lines. Dropped counts the earlier lines left out; Report.LogPath has them all.
	Output  []string `json:"output,omitempty"`
	Dropped int      `json:"dropped,omitempty"`
}

// Top reports whether the result is a top-level test (not a subtest).
func (r Result) Top() bool { return !strings.Contains(r.Name, "/") }

// Panic describes a panic in the test binary.
type Panic struct {
	Message string `json:"message"`      // "assignment to entry in nil map"
	At      string `json:"at,omitempty"` // file:line of the first frame in the lab's code
	Test    string `json:"test,omitempty"`
}

// Hang says where the binary was when the per-test watchdog stopped it: a test went Options.TestTimeout without
// finishing (or without a subtest starting or finishing).
type Hang struct {
	Test  string        `json:"test,omitempty"` // the stuck test; "" when no test was running (TestMain, init)
	After time.Duration `json:"after"`          // how long it had gone without progress
	// At and Func are the first frame in the lab's non-test files of the goroutine most likely stuck
	// ("labs/05-idempotent-consumer/billing.go:42", "(*Billing).Handle"); empty when no goroutine was in them.
	At    string   `json:"at,omitempty"`
	Func  string   `json:"func,omitempty"`
	State string   `json:"state,omitempty"`  // that goroutine's state: "chan receive", "select", "running", …
	Other []string `json:"others,omitempty"` // further goroutines in the lab's files: "file:line in func (state)"
}

// Exit says that the test binary ended without finishing its run: os.Exit in the code under test, or a signal.
type Exit struct {
	Status   int    `json:"status"`           // the exit status; -1 when a signal ended the binary
	Signal   string `json:"signal,omitempty"` // "killed", when a signal ended it
	Test     string `json:"test,omitempty"`   // the test that was running, if any
	Sentence string `json:"sentence"`         // "exited with status 3 — os.Exit in your code?"
}

// Kind says what happened to a test run as a whole.
type Kind string

// Kinds of runs. Only Passed and Failed are judgements about the tests; the rest are reasons there is none.
const (
	Passed     Kind = "passed"
	Failed     Kind = "failed"      // tests ran and some failed
	BuildError Kind = "build-error" // the package did not compile
	Panicked   Kind = "panic"       // the test binary panicked
	TimedOut   Kind = "timeout"     // a test did not finish within -timeout
	Hung       Kind = "hang"        // the per-test watchdog stopped a test that made no progress (Report.Hang)
	Exited     Kind = "exit"        // the binary exited before its tests finished (Report.Exit)
	NotRun     Kind = "not-run"     // every test that ran passed, but a named test did not run or was skipped
	InfraError Kind = "infra"       // a test reported INFRA: (RabbitMQ/PostgreSQL unreachable)
	NoTests    Kind = "no-tests"    // the run produced no test results
)

// Report is everything one run said.
type Report struct {
	Package     string        `json:"package,omitempty"`
	Tests       []Result      `json:"tests"`                  // in the order they finished
	Build       []string      `json:"build,omitempty"`        // compiler messages, file:line: message
	Panic       *Panic        `json:"panic,omitempty"`        // first panic
	Timeout     []string      `json:"timeout,omitempty"`      // tests running when -timeout fired
	Infra       string        `json:"infra,omitempty"`        // first INFRA story
	Race        bool          `json:"race,omitempty"`         // the race detector reported a data race
	PackageFail bool          `json:"package_fail,omitempty"` // the package as a whole failed
	Stderr      string        `json:"stderr,omitempty"`       // what the go command said besides compiler messages
	Elapsed     time.Duration `json:"elapsed"`                // build and run
	// NotRun lists the tests the caller named (Options.Tests) that did not run or were skipped: a run with any is
	// not a pass, whatever the other tests did.
	NotRun []string `json:"not_run,omitempty"`
	Hang   *Hang    `json:"hang,omitempty"`
	Exit   *Exit    `json:"exit,omitempty"`
	// LogPath is the file with everything the binary printed (Options.RunDir/last.log); "" without a RunDir.
	LogPath string `json:"log_path,omitempty"`
	// Output is the tail of what the binary printed outside any test (TestMain, init, the final PASS/FAIL).
	Output       []string      `json:"output,omitempty"`
	BuildElapsed time.Duration `json:"build_elapsed,omitempty"` // of Elapsed, the time spent building the binary
}

// Kind classifies the run; the first of build error, INFRA, hang, time-out, panic, early exit, failure and a
// named test that did not run applies.
func (r *Report) Kind() Kind {
	switch {
	case len(r.Build) > 0:
		return BuildError
	case r.Infra != "":
		return InfraError
	case r.Hang != nil:
		return Hung
	case len(r.Timeout) > 0:
		return TimedOut
	case r.Panic != nil:
		return Panicked
	case r.Exit != nil:
		return Exited
	}
	for _, t := range r.Tests {
		if t.Status == Fail {
			return Failed
		}
	}
	if r.PackageFail {
		if len(r.Tests) == 0 {
			return BuildError
		}
		return Failed
	}
	if len(r.NotRun) > 0 {
		return NotRun
	}
	if len(r.Tests) == 0 {
		return NoTests
	}
	return Passed
}

// Counts returns how many top-level tests passed and failed (subtests are part of their parent's verdict).
func (r *Report) Counts() (pass, fail int) {
	for _, t := range r.Tests {
		if !t.Top() {
			continue
		}
		switch t.Status {
		case Pass:
			pass++
		case Fail:
			fail++
		}
	}
	return pass, fail
}

// Failed returns the failed top-level tests.
func (r *Report) Failed() []Result {
	var out []Result
	for _, t := range r.Tests {
		if t.Top() && t.Status == Fail {
			out = append(out, t)
		}
	}
	return out
}

// Test returns the result of the named test (its first, with -count).
func (r *Report) Test(name string) (Result, bool) {
	for _, t := range r.Tests {
		if t.Name == name {
			return t, true
		}
	}
	return Result{}, false
}

// EventKind says what an Event is about.
type EventKind string

// Event kinds.
const (
	TestStarted  EventKind = "start"
	TestFinished EventKind = "done"
	BuildOutput  EventKind = "build"
	Built        EventKind = "built"   // the test binary is built; the tests start
	TestHanging  EventKind = "hanging" // the watchdog fired for Test; its stacks are being collected
)

// Event is streamed while the run goes on: a test started, a test finished (with its Result), or a compiler line.
type Event struct {
	Kind   EventKind
	Test   string
	Result *Result // for TestFinished
	Line   string  // for BuildOutput
}

// event is one test2json event, as `go test -json` prints it and the in-process converter emits it.
type event struct {
	Action      string
	Package     string
	ImportPath  string
	Test        string
	Elapsed     float64
	Output      string
	FailedBuild string
}

// ParseOptions tune how panics are located and how much output is kept.
type ParseOptions struct {
	// LabDir is the lab's folder with forward slashes relative to the kit root ("labs/03-consumer-acks"); a panic's
	// location is the first stack frame in it, shown relative to the root.
	LabDir string
	// TailLines is how many of a test's last output lines Result.Output keeps; 0 means DefaultTailLines.
	TailLines int
}

// DefaultTailLines is how many lines of a test's output reach the terminal.
const DefaultTailLines = 40

// Bounds on what the parser holds in memory, whatever a test prints (everything goes to the log file).
const (
	keepLines    = 5000      // lines per test searched for the failure story
	maxLineBytes = 16 * 1024 // a longer line is cut
	panicLines   = 400       // lines kept after a "panic:" line, for its location and the running tests
)

var (
	logPrefix  = regexp.MustCompile(`^    (?:[\w.\-]+\.go):\d+: (.*)$`)
	buildLine  = regexp.MustCompile(`^\S+\.go:\d+(:\d+)?: `)
	frameLine  = regexp.MustCompile(`^\t(\S+\.go):(\d+)`)
	runningRow = regexp.MustCompile(`^\t\t(\S+) \(`)
)

// Parse reads a `go test -json` stream to its end, calling onEvent (if not nil) as tests start and finish.
func Parse(r io.Reader, opts ParseOptions, onEvent func(Event)) (*Report, error) {
	p := newParser(opts, onEvent)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
	var stray strings.Builder
	for sc.Scan() {
		line := sc.Bytes()
		var ev event
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &ev) != nil {
			stray.Write(line)
			stray.WriteByte('\n')
			continue
		}
		p.handle(ev)
	}
	p.finish()
	p.rep.Stderr = strings.TrimSpace(stray.String())
	if err := sc.Err(); err != nil {
		return p.rep, fmt.Errorf("read go test output: %w", err)
	}
	return p.rep, nil
}

// lines holds the last keepLines complete lines of one stream of output, plus the line being written.
type lines struct {
	ring    []string
	next    int // where the next line goes once the ring is full
	total   int
	partial strings.Builder
}

func (l *lines) add(line string) {
	l.total++
	if len(l.ring) < keepLines {
		l.ring = append(l.ring, line)
		return
	}
	l.ring[l.next] = line
	l.next = (l.next + 1) % keepLines
}

// all returns the kept lines, oldest first.
func (l *lines) all() []string {
	if len(l.ring) < keepLines {
		return l.ring
	}
	return append(append([]string{}, l.ring[l.next:]...), l.ring[:l.next]...)
}

// tail returns the last n kept lines and how many lines came before them.
func (l *lines) tail(n int) ([]string, int) {
	all := l.all()
	if len(all) > n {
		all = all[len(all)-n:]
	}
	return append([]string(nil), all...), l.total - len(all)
}

// testState is a test that has started and not finished.
type testState struct {
	res   Result
	out   lines
	panic []string // the first "panic:" line and up to panicLines after it
}

type parser struct {
	opts    ParseOptions
	onEvent func(Event)
	rep     *Report
	running map[string]*testState
	order   []string       // running tests in start order
	started map[string]int // every test's place in start order, for a parent's first failed subtest
	pkg     lines          // output not attributed to a test
	pkgPan  []string       // a panic outside any test
	dump    *dump          // the stack dump the watchdog asked for, once it did
}

func newParser(opts ParseOptions, onEvent func(Event)) *parser {
	if onEvent == nil {
		onEvent = func(Event) {}
	}
	if opts.TailLines <= 0 {
		opts.TailLines = DefaultTailLines
	}
	return &parser{opts: opts, onEvent: onEvent, rep: &Report{}, running: map[string]*testState{}, started: map[string]int{}}
}

func (p *parser) handle(ev event) {
	switch ev.Action {
	case "build-output":
		line := strings.TrimRight(ev.Output, "\n")
		if strings.HasPrefix(line, "# ") || strings.TrimSpace(line) == "" {
			return
		}
		p.rep.Build = append(p.rep.Build, line)
		p.onEvent(Event{Kind: BuildOutput, Line: line})
		return
	case "build-fail":
		return
	}
	if p.rep.Package == "" && ev.Package != "" {
		p.rep.Package = ev.Package
	}
	if ev.Test == "" {
		p.handlePackage(ev)
		return
	}
	switch ev.Action {
	case "run":
		p.start(ev.Test)
	case "output":
		p.output(p.start(ev.Test), ev.Output)
	case "pass", "fail", "skip":
		st := p.start(ev.Test)
		st.res.Status = Status(ev.Action)
		st.res.Elapsed = seconds(ev.Elapsed)
		p.done(st)
	}
}

func (p *parser) handlePackage(ev event) {
	switch ev.Action {
	case "output":
		p.output(nil, ev.Output)
	case "fail":
		p.rep.PackageFail = true
		p.rep.Elapsed = seconds(ev.Elapsed)
		if ev.FailedBuild != "" && len(p.rep.Build) == 0 {
			p.flush(nil)
			p.rep.Build = append(p.rep.Build, buildLines(p.pkg.all())...)
			if len(p.rep.Build) == 0 {
				p.rep.Build = []string{"build failed: " + ev.FailedBuild}
			}
		}
	case "pass", "skip":
		p.rep.Elapsed = seconds(ev.Elapsed)
	}
}

func (p *parser) start(name string) *testState {
	if st, ok := p.running[name]; ok {
		return st
	}
	st := &testState{res: Result{Name: name, Status: Running}}
	p.running[name] = st
	p.order = append(p.order, name)
	if _, ok := p.started[name]; !ok {
		p.started[name] = len(p.started)
	}
	p.onEvent(Event{Kind: TestStarted, Test: name})
	return st
}

// output takes one output event of a test (nil: of the package). Events are whole lines or pieces of a long line;
// a piece without its newline waits for the rest, except before a framing line, which always starts a line.
func (p *parser) output(st *testState, text string) {
	buf := &p.pkg
	if st != nil {
		buf = &st.out
	}
	if buf.partial.Len() > 0 && isFraming(text) {
		p.flush(st)
	}
	for text != "" {
		piece, rest, complete := strings.Cut(text, "\n")
		if buf.partial.Len() < maxLineBytes {
			buf.partial.WriteString(piece[:min(len(piece), maxLineBytes-buf.partial.Len())])
		}
		if !complete {
			return
		}
		p.flush(st)
		text = rest
	}
}

// flush ends the line being written to st's output (nil: the package's).
func (p *parser) flush(st *testState) {
	buf := &p.pkg
	if st != nil {
		buf = &st.out
	}
	line := strings.TrimRight(buf.partial.String(), "\r")
	buf.partial.Reset()
	p.line(st, line)
}

func (p *parser) line(st *testState, line string) {
	if strings.Contains(line, "WARNING: DATA RACE") {
		p.rep.Race = true
	}
	if p.dump != nil {
		// Everything after the watchdog fired is the stack dump: it goes to the log, not to a test's output.
		p.dump.line(line)
		return
	}
	pan := &p.pkgPan
	buf := &p.pkg
	if st != nil {
		pan, buf = &st.panic, &st.out
	}
	switch {
	case len(*pan) > 0 && len(*pan) <= panicLines:
		*pan = append(*pan, line)
	case len(*pan) == 0 && strings.HasPrefix(line, "panic: "):
		*pan = append(*pan, line)
	}
	if isFraming(line) {
		return
	}
	buf.add(line)
}

// isFraming reports whether s is one of the testing package's own lines: === RUN, --- PASS: and the like.
func isFraming(s string) bool {
	if strings.HasPrefix(s, "=== ") {
		return true
	}
	s = strings.TrimLeft(s, " ")
	return strings.HasPrefix(s, "--- PASS: ") || strings.HasPrefix(s, "--- FAIL: ") || strings.HasPrefix(s, "--- SKIP: ")
}

func (p *parser) done(st *testState) {
	if st.out.partial.Len() > 0 {
		p.flush(st)
	}
	r := &st.res
	delete(p.running, r.Name)
	for i, n := range p.order {
		if n == r.Name {
			p.order = append(p.order[:i], p.order[i+1:]...)
			break
		}
	}
	p.analyse(st)
	if r.Status == Fail && r.Marker == "" {
		// A parent inherits the marker of its first failed subtest: first as started (the order they are declared),
		// not as finished, which parallel subtests do in any order.
		first := -1
		for _, t := range p.rep.Tests {
			if strings.HasPrefix(t.Name, r.Name+"/") && t.Status == Fail && t.Marker != "" {
				if at := p.started[t.Name]; first < 0 || at < first {
					first = at
					r.Marker, r.Headline, r.Story = t.Marker, t.Headline, t.Story
				}
			}
		}
	}
	r.Output, r.Dropped = st.out.tail(p.opts.TailLines)
	p.rep.Tests = append(p.rep.Tests, *r)
	res := *r
	p.onEvent(Event{Kind: TestFinished, Test: r.Name, Result: &res})
}

// finish closes the tests still running when the stream ended: the binary died under them (timeout, panic, exit,
// or the watchdog).
func (p *parser) finish() {
	if p.pkg.partial.Len() > 0 {
		p.flush(nil)
	}
	for len(p.order) > 0 {
		name := p.order[len(p.order)-1] // innermost first, so parents inherit
		st := p.running[name]
		st.res.Status = Fail
		p.done(st)
	}
	if p.rep.Panic == nil && len(p.pkgPan) > 0 {
		p.rep.Panic = p.panicOf(p.pkgPan, "")
	}
	pkg := p.pkg.all()
	if m, _, s := FindStory(pkg); m == Infra && p.rep.Infra == "" {
		p.rep.Infra = s
	}
	p.rep.Output, _ = p.pkg.tail(p.opts.TailLines)
}

// hanging tells the parser that the watchdog fired for test (may be "") and a stack dump follows.
func (p *parser) hanging(test string, after time.Duration) {
	p.dump = &dump{labDir: p.opts.LabDir}
	p.rep.Hang = &Hang{Test: test, After: after}
	if st, ok := p.running[test]; ok {
		st.res.Hung = true
	}
}

// analyse finds the failure story, a panic or a time-out in a test's output.
func (p *parser) analyse(st *testState) {
	r := &st.res
	if len(st.panic) > 0 {
		if strings.HasPrefix(st.panic[0], "panic: test timed out after") {
			r.TimedOut = true
			r.Status = Fail
			for _, row := range st.panic[1:] {
				if m := runningRow.FindStringSubmatch(row); m != nil {
					p.rep.Timeout = appendUnique(p.rep.Timeout, m[1])
				} else if row != "\trunning tests:" {
					break
				}
			}
			if len(p.rep.Timeout) == 0 {
				p.rep.Timeout = []string{r.Name}
			}
		} else {
			r.Panic = p.panicOf(st.panic, r.Name)
			r.Status = Fail
			if p.rep.Panic == nil {
				p.rep.Panic = r.Panic
			}
		}
	}
	if r.Status != Fail && r.Status != Running {
		return
	}
	marker, headline, story := FindStory(st.out.all())
	if marker == "" {
		return
	}
	r.Marker, r.Headline, r.Story = marker, headline, story
	if marker == Infra && p.rep.Infra == "" {
		p.rep.Infra = story
	}
}

func (p *parser) panicOf(lines []string, test string) *Panic {
	msg := strings.TrimPrefix(lines[0], "panic: ")
	msg = strings.TrimSuffix(strings.TrimSuffix(msg, " [recovered, repanicked]"), " [recovered]")
	return &Panic{Message: msg, At: p.locate(lines[1:]), Test: test}
}

// locate returns the first stack frame in the lab's folder, else the first frame outside the Go runtime and testing.
func (p *parser) locate(stack []string) string {
	var first string
	for _, line := range stack {
		m := frameLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		file := strings.ReplaceAll(m[1], `\`, "/")
		if rel := labRel(file, p.opts.LabDir); rel != "" {
			return rel + ":" + m[2]
		}
		if first == "" && !strings.Contains(file, "/src/runtime/") && !strings.Contains(file, "/src/testing/") &&
			!strings.HasPrefix(file, "_testmain.go") {
			first = file + ":" + m[2]
		}
	}
	return first
}

// labRel returns file relative to the kit root when it lies in the lab's folder ("labs/03-x/acks.go"), else "".
func labRel(file, labDir string) string {
	if labDir == "" {
		return ""
	}
	if i := strings.Index(file, "/"+labDir+"/"); i >= 0 {
		return file[i+1:]
	}
	if strings.HasPrefix(file, labDir+"/") {
		return file
	}
	return ""
}

// FindStory finds the first failure marker in a test's output lines. It returns the marker, the sentence after it,
// and the whole story: the marker line and its continuation lines (the timeline), without the "file_test.go:NN: "
// prefix and the log indentation.
func FindStory(output []string) (marker, headline, story string) {
	for i, line := range output {
		m := logPrefix.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		msg := m[1]
		mk, rest, ok := cutMarker(msg)
		if !ok {
			continue
		}
		lines := []string{msg}
		for _, cont := range output[i+1:] {
			if !strings.HasPrefix(cont, "        ") && cont != "" {
				break
			}
			lines = append(lines, strings.TrimPrefix(cont, "        "))
		}
		for len(lines) > 1 && strings.TrimSpace(lines[len(lines)-1]) == "" {
			lines = lines[:len(lines)-1]
		}
		for j := range lines {
			lines[j] = strings.TrimRight(lines[j], " \t")
		}
		return mk, strings.TrimSpace(rest), strings.Join(lines, "\n")
	}
	return "", "", ""
}

func cutMarker(msg string) (marker, rest string, ok bool) {
	for _, m := range story.Markers {
		if r, found := strings.CutPrefix(msg, string(m)+":"); found {
			return string(m), r, true
		}
	}
	return "", "", false
}

func buildLines(out []string) []string {
	var lines []string
	for _, l := range out {
		if buildLine.MatchString(l) {
			lines = append(lines, l)
		}
	}
	return lines
}

func appendUnique(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

func seconds(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }
