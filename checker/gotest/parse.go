// Package gotest runs `go test -json` and turns its event stream into per-test results that carry the lab failure
// markers (LOST:, DUPLICATE:, …), plus the things that are not test failures at all: build errors, panics, time-outs
// and INFRA.
package gotest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"
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
const Infra = "INFRA"

// markers are the words a failure story starts with; INFRA included.
var markers = []string{"LOST", "DUPLICATE", "STALLED", "GHOST", "CROSSTALK", Infra}

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
	Output   []string      `json:"-"` // the test's raw output lines
}

// Top reports whether the result is a top-level test (not a subtest).
func (r Result) Top() bool { return !strings.Contains(r.Name, "/") }

// Panic describes a panic in the test binary.
type Panic struct {
	Message string `json:"message"`      // "assignment to entry in nil map"
	At      string `json:"at,omitempty"` // file:line of the first frame in the lab's code
	Test    string `json:"test,omitempty"`
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
	InfraError Kind = "infra"       // a test reported INFRA: (RabbitMQ/PostgreSQL unreachable)
	NoTests    Kind = "no-tests"    // the run produced no test results
)

// Report is everything one `go test -json` run said.
type Report struct {
	Package     string        `json:"package,omitempty"`
	Tests       []Result      `json:"tests"`                  // in the order they finished
	Build       []string      `json:"build,omitempty"`        // compiler messages, file:line: message
	Panic       *Panic        `json:"panic,omitempty"`        // first panic
	Timeout     []string      `json:"timeout,omitempty"`      // tests running when -timeout fired
	Infra       string        `json:"infra,omitempty"`        // first INFRA story
	Race        bool          `json:"race,omitempty"`         // the race detector reported a data race
	PackageFail bool          `json:"package_fail,omitempty"` // the package as a whole failed
	Stderr      string        `json:"stderr,omitempty"`       // non-JSON output of the go command
	Elapsed     time.Duration `json:"elapsed"`
}

// Kind classifies the run; the first of build error, INFRA, time-out, panic, failure applies.
func (r *Report) Kind() Kind {
	switch {
	case len(r.Build) > 0:
		return BuildError
	case r.Infra != "":
		return InfraError
	case len(r.Timeout) > 0:
		return TimedOut
	case r.Panic != nil:
		return Panicked
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

// Test returns the result of the named test.
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
)

// Event is streamed while the run goes on: a test started, a test finished (with its Result), or a compiler line.
type Event struct {
	Kind   EventKind
	Test   string
	Result *Result // for TestFinished
	Line   string  // for BuildOutput
}

// event is one line of `go test -json`.
type event struct {
	Action      string
	Package     string
	ImportPath  string
	Test        string
	Elapsed     float64
	Output      string
	FailedBuild string
}

// ParseOptions tune how panics are located.
type ParseOptions struct {
	// LabDir is the lab's folder with forward slashes relative to the kit root ("labs/03-consumer-acks"); a panic's
	// location is the first stack frame in it, shown relative to the root.
	LabDir string
}

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

type parser struct {
	opts    ParseOptions
	onEvent func(Event)
	rep     *Report
	running map[string]*Result
	order   []string // running tests in start order
	pkgOut  []string // output not attributed to a test
}

func newParser(opts ParseOptions, onEvent func(Event)) *parser {
	if onEvent == nil {
		onEvent = func(Event) {}
	}
	return &parser{opts: opts, onEvent: onEvent, rep: &Report{}, running: map[string]*Result{}}
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
		switch ev.Action {
		case "output":
			p.pkgOut = append(p.pkgOut, strings.TrimRight(ev.Output, "\n"))
		case "fail":
			p.rep.PackageFail = true
			p.rep.Elapsed = seconds(ev.Elapsed)
			if ev.FailedBuild != "" && len(p.rep.Build) == 0 {
				p.rep.Build = append(p.rep.Build, buildLines(p.pkgOut)...)
				if len(p.rep.Build) == 0 {
					p.rep.Build = []string{"build failed: " + ev.FailedBuild}
				}
			}
		case "pass", "skip":
			p.rep.Elapsed = seconds(ev.Elapsed)
		}
		return
	}
	switch ev.Action {
	case "run":
		p.start(ev.Test)
	case "output":
		r := p.start(ev.Test)
		r.Output = append(r.Output, strings.TrimRight(ev.Output, "\n"))
	case "pass", "fail", "skip":
		r := p.start(ev.Test)
		r.Status = Status(ev.Action)
		r.Elapsed = seconds(ev.Elapsed)
		p.done(r)
	}
}

func (p *parser) start(name string) *Result {
	if r, ok := p.running[name]; ok {
		return r
	}
	r := &Result{Name: name, Status: Running}
	p.running[name] = r
	p.order = append(p.order, name)
	p.onEvent(Event{Kind: TestStarted, Test: name})
	return r
}

func (p *parser) done(r *Result) {
	delete(p.running, r.Name)
	for i, n := range p.order {
		if n == r.Name {
			p.order = append(p.order[:i], p.order[i+1:]...)
			break
		}
	}
	p.analyse(r)
	if r.Status == Fail && r.Marker == "" {
		// A parent inherits the marker of its first failed subtest.
		for _, t := range p.rep.Tests {
			if strings.HasPrefix(t.Name, r.Name+"/") && t.Status == Fail && t.Marker != "" {
				r.Marker, r.Headline, r.Story = t.Marker, t.Headline, t.Story
				break
			}
		}
	}
	p.rep.Tests = append(p.rep.Tests, *r)
	res := *r
	p.onEvent(Event{Kind: TestFinished, Test: r.Name, Result: &res})
}

// finish closes the tests still running when the stream ended: the binary died under them (timeout or panic).
func (p *parser) finish() {
	for _, l := range p.pkgOut {
		if strings.Contains(l, "WARNING: DATA RACE") {
			p.rep.Race = true
		}
	}
	for len(p.order) > 0 {
		name := p.order[len(p.order)-1] // innermost first, so parents inherit
		r := p.running[name]
		r.Status = Fail
		p.done(r)
	}
}

// analyse finds the failure story, a panic or a time-out in a test's output.
func (p *parser) analyse(r *Result) {
	for i, line := range r.Output {
		if strings.Contains(line, "WARNING: DATA RACE") {
			p.rep.Race = true
		}
		if strings.HasPrefix(line, "panic: test timed out after") {
			r.TimedOut = true
			r.Status = Fail
			for _, row := range r.Output[i+1:] {
				if m := runningRow.FindStringSubmatch(row); m != nil {
					p.rep.Timeout = appendUnique(p.rep.Timeout, m[1])
				} else if row != "\trunning tests:" {
					break
				}
			}
			if len(p.rep.Timeout) == 0 {
				p.rep.Timeout = []string{r.Name}
			}
			continue
		}
		if strings.HasPrefix(line, "panic: ") && !r.TimedOut && r.Panic == nil {
			msg := strings.TrimPrefix(line, "panic: ")
			msg = strings.TrimSuffix(strings.TrimSuffix(msg, " [recovered, repanicked]"), " [recovered]")
			r.Panic = &Panic{Message: msg, At: p.locate(r.Output[i+1:]), Test: r.Name}
			r.Status = Fail
			if p.rep.Panic == nil {
				p.rep.Panic = r.Panic
			}
		}
	}
	if r.Status != Fail && r.Status != Running {
		return
	}
	marker, headline, story := FindStory(r.Output)
	if marker == "" {
		return
	}
	r.Marker, r.Headline, r.Story = marker, headline, story
	if marker == Infra && p.rep.Infra == "" {
		p.rep.Infra = story
	}
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
		if p.opts.LabDir != "" {
			if i := strings.Index(file, "/"+p.opts.LabDir+"/"); i >= 0 {
				return file[i+1:] + ":" + m[2]
			}
		}
		if first == "" && !strings.Contains(file, "/src/runtime/") && !strings.Contains(file, "/src/testing/") &&
			!strings.HasPrefix(file, "_testmain.go") {
			first = file + ":" + m[2]
		}
	}
	return first
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
	for _, m := range markers {
		if r, found := strings.CutPrefix(msg, m+":"); found {
			return m, r, true
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
