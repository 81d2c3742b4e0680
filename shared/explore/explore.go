// Package explore checks a small concurrent algorithm in every interleaving of its steps, not just the one a test
// happens to run. Processes are plain Go functions that call Proc.Step before each action that other processes could
// observe ("read inbox", "write charge"). The explorer runs them as goroutines but lets only one of them move at a
// time: at every step it decides who goes next, and it tries every possible decision, depth first. It can also make
// a process crash at a step: the process loses everything it held in memory and starts over from the beginning, the
// way a service that died before acking gets the message again.
//
// After each complete schedule the explorer checks the invariants, and it stops at the first schedule that breaks one,
// returning it as a readable trace, with how many schedules it explored and how long that took.
//
// A model must be deterministic: the same decisions must lead to the same steps. Build all state afresh in the
// build function given to Explore (no globals, no clocks, no randomness, no maps iterated for output) and let
// processes talk only through that state. Code between two steps runs without interruption.
package explore

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"msglabs/shared/story"
)

// Defaults used when Options leaves a field zero.
const (
	// DefaultMaxSteps caps the steps of one schedule: a model that loops forever is reported, not explored forever.
	DefaultMaxSteps = 1000
	// DefaultStepTimeout caps how long a process may run between two steps (it should take microseconds).
	DefaultStepTimeout = 5 * time.Second
)

// Options bound the exploration.
type Options struct {
	MaxCrashes  int           // crashes per schedule, across all processes (0: no crashes)
	MaxSteps    int           // steps per schedule before it is an error (0: DefaultMaxSteps)
	StepTimeout time.Duration // how long a process may take to reach its next step (0: DefaultStepTimeout)
}

// Process is one participant of a model: a name for the trace and the code it runs. Run starts from the top after a
// crash, with a fresh Proc: whatever it kept in local variables is gone, only the model's shared state remains.
type Process struct {
	Name string
	Run  func(p *Proc)
}

// Invariant is a property every complete schedule must have. Check returns nil when it holds, or an error saying in
// plain words what went wrong ("order o-1 was charged 2 times"). Marker is the failure mode a violation shows.
type Invariant struct {
	Name   string // as the literature names it: "no duplicated processing"
	Marker story.Marker
	Check  func() error
}

// Model is one fresh copy of the system under test: its processes and the invariants to check when they are done.
type Model struct {
	Processes  []Process
	Invariants []Invariant
}

// Result is what an exploration found.
type Result struct {
	Schedules int           // complete schedules explored (including the failing one)
	Elapsed   time.Duration // wall time of the whole exploration
	Failure   *Failure      // the first schedule that broke an invariant; nil when none did
}

// Summary says how much was explored, e.g. "explored 1234 schedules in 310ms".
func (r Result) Summary() string {
	return fmt.Sprintf("explored %d schedules in %v", r.Schedules, r.Elapsed.Round(time.Millisecond))
}

// Failure is a schedule that broke at least one invariant.
type Failure struct {
	Schedule   int         // its number in exploration order, from 1
	Violations []Violation // in the order the invariants were given; the first is the headline
	Trace      []Event     // what happened, in order
}

// Violation is one invariant a schedule broke.
type Violation struct {
	Invariant string
	Marker    story.Marker
	Err       error
}

// First is the violation to lead with: the first broken invariant, in the order they were given.
func (f *Failure) First() Violation { return f.Violations[0] }

// Lines renders the trace as numbered lines, one per event, for a failure story.
func (f *Failure) Lines() []string {
	width := 0
	for _, e := range f.Trace {
		width = max(width, len(e.Proc))
	}
	lines := make([]string, 0, len(f.Trace)+len(f.Violations))
	for i, e := range f.Trace {
		lines = append(lines, fmt.Sprintf("%3d. %-*s  %s", i+1, width, e.Proc, e.Text()))
	}
	for _, v := range f.Violations {
		lines = append(lines, fmt.Sprintf("broken: %q (%s: %v)", v.Invariant, v.Marker, v.Err))
	}
	return lines
}

// String is the failure as one text: the first violation, then the trace.
func (f *Failure) String() string {
	v := f.First()
	return fmt.Sprintf("%s: %v (invariant %q broken in schedule %d)\n  %s", v.Marker, v.Err, v.Invariant, f.Schedule,
		strings.Join(f.Lines(), "\n  "))
}

// Kind says what an Event is.
type Kind int

// The kinds of trace event.
const (
	Start Kind = iota // a process started (or restarted after a crash)
	Step              // a process took a step
	Crash             // a process crashed before a step
)

// Event is one line of a trace.
type Event struct {
	Proc  string   // "billing-1", or "billing-1#2" after its first crash
	Kind  Kind     // Start, Step or Crash
	Label string   // the step's label (for Step and Crash)
	Notes []string // what the process said about it (Proc.Note)
}

// Text renders the event without its process name.
func (e Event) Text() string {
	var s string
	switch e.Kind {
	case Start:
		s = "starts"
	case Step:
		s = e.Label
	case Crash:
		s = fmt.Sprintf("CRASHED before %q: everything it held in memory is gone", e.Label)
	}
	if len(e.Notes) > 0 {
		s += ": " + strings.Join(e.Notes, "; ")
	}
	return s
}

// Proc is a running process's handle. It belongs to that process's goroutine; only one process runs at a time.
type Proc struct {
	name    string
	grant   chan bool // true: take the step; false: crash here
	reports chan<- report
	event   *Event // the trace event notes go to, set by the scheduler before it lets the process run
	crashed bool
}

// Name is the process's name in the trace ("billing-1#2" after a crash).
func (p *Proc) Name() string { return p.name }

// Step announces the next action, called label, and waits until the scheduler lets this process take it. The
// scheduler may instead crash the process here: then Step does not return, the goroutine ends, and the process
// starts over from the top.
func (p *Proc) Step(label string) {
	p.reports <- report{kind: waiting, label: label}
	if !<-p.grant {
		p.crashed = true
		runtime.Goexit()
	}
}

// Note adds a remark to the current trace line (the last step taken, or the start), e.g. "m-1 not seen".
func (p *Proc) Note(format string, args ...any) {
	p.event.Notes = append(p.event.Notes, fmt.Sprintf(format, args...))
}

// report is what a process goroutine tells the scheduler when it stops running.
type report struct {
	kind  reportKind
	label string // waiting: the step it waits to take
	value any    // panicked: the panic value
	stack []byte // panicked: where
}

type reportKind int

const (
	waiting  reportKind = iota // blocked in Step
	finished                   // Run returned
	crashed                    // crashed at a step on the scheduler's order
	panicked                   // Run panicked
	exited                     // the goroutine ended some other way (runtime.Goexit, t.FailNow)
)

// Explore runs build's model in every schedule within opts' bounds and checks its invariants after each. It stops at
// the first schedule that breaks one. An error means the model itself is broken (it panicked, looped, blocked, or
// behaved differently when replayed), not that an invariant failed.
func Explore(opts Options, build func() Model) (Result, error) {
	if opts.MaxSteps == 0 {
		opts.MaxSteps = DefaultMaxSteps
	}
	if opts.StepTimeout == 0 {
		opts.StepTimeout = DefaultStepTimeout
	}
	start := time.Now()
	var res Result
	var prefix, prevCounts []int
	timer := time.NewTimer(opts.StepTimeout)
	defer timer.Stop()
	for {
		s := &schedule{opts: opts, prefix: prefix, prevCounts: prevCounts, reports: make(chan report), timer: timer}
		err := s.run(build())
		res.Elapsed = time.Since(start)
		if err != nil {
			return res, fmt.Errorf("schedule %d: %w", res.Schedules+1, err)
		}
		res.Schedules++
		if len(s.violations) > 0 {
			res.Failure = &Failure{Schedule: res.Schedules, Violations: s.violations, Trace: s.events()}
			return res, nil
		}
		var more bool
		prefix, more = next(s.choices, s.counts)
		if !more {
			return res, nil
		}
		prevCounts = s.counts
	}
}

// next returns the decisions of the next schedule in depth-first order: the same as this one up to the last decision
// that still has an untried option, which is taken instead. It reports false when every schedule was explored.
func next(choices, counts []int) ([]int, bool) {
	for i := len(choices) - 1; i >= 0; i-- {
		if choices[i]+1 < counts[i] {
			out := append([]int(nil), choices[:i]...)
			return append(out, choices[i]+1), true
		}
	}
	return nil, false
}

// schedule is one run of the model, following prefix for its first decisions and taking the first option after.
type schedule struct {
	opts       Options
	prefix     []int // decisions to replay
	prevCounts []int // options at each decision in the previous run, to catch a model that is not deterministic
	reports    chan report
	timer      *time.Timer // bounds each wait for a process; shared by all schedules of one Explore

	slots      []*slot
	trace      []*Event
	choices    []int // decision taken at each point
	counts     []int // options there were at each point
	crashes    int
	steps      int
	violations []Violation
}

// slot is one process of the model across its incarnations.
type slot struct {
	proc    Process
	runs    int   // incarnations started so far
	current *Proc // the running incarnation
	label   string
	done    bool
}

// option is one possible decision: let a process take its step, or crash it there.
type option struct {
	slot  int
	crash bool
}

func (s *schedule) run(m Model) error {
	for _, p := range m.Processes {
		s.slots = append(s.slots, &slot{proc: p})
	}
	for i := range s.slots {
		if err := s.start(i); err != nil {
			return err
		}
	}
	for {
		opts := s.options()
		if len(opts) == 0 {
			break
		}
		if s.steps >= s.opts.MaxSteps {
			s.abort()
			return fmt.Errorf("no end after %d steps: does a process loop forever? (Options.MaxSteps)", s.opts.MaxSteps)
		}
		pick, err := s.decide(len(opts))
		if err != nil {
			s.abort()
			return err
		}
		if err := s.take(opts[pick]); err != nil {
			return err
		}
	}
	for _, inv := range m.Invariants {
		if err := inv.Check(); err != nil {
			s.violations = append(s.violations, Violation{Invariant: inv.Name, Marker: inv.Marker, Err: err})
		}
	}
	return nil
}

// options lists the possible decisions in a fixed order: every waiting process's step, then (while crashes are
// left) every waiting process's crash. Depth first, the first schedules run with as few crashes as possible.
func (s *schedule) options() []option {
	var out []option
	for i, sl := range s.slots {
		if !sl.done {
			out = append(out, option{slot: i})
		}
	}
	if s.crashes < s.opts.MaxCrashes {
		for i, sl := range s.slots {
			if !sl.done {
				out = append(out, option{slot: i, crash: true})
			}
		}
	}
	return out
}

// decide picks an option: the replayed one while the prefix lasts, the first one after it.
func (s *schedule) decide(n int) (int, error) {
	d := len(s.choices)
	pick := 0
	if d < len(s.prefix) {
		if s.prevCounts[d] != n {
			return 0, fmt.Errorf("the model is not deterministic: decision %d had %d options before and %d now "+
				"(build all state in the build function; no globals, clocks, randomness or map order)", d+1, s.prevCounts[d], n)
		}
		pick = s.prefix[d]
	}
	s.choices = append(s.choices, pick)
	s.counts = append(s.counts, n)
	return pick, nil
}

// take carries out one decision and waits until the process stops again.
func (s *schedule) take(o option) error {
	sl := s.slots[o.slot]
	p := sl.current
	s.steps++
	if o.crash {
		s.crashes++
		s.record(&Event{Proc: p.name, Kind: Crash, Label: sl.label}, p)
		p.grant <- false
		if err := s.await(o.slot); err != nil {
			return err
		}
		return s.start(o.slot)
	}
	s.record(&Event{Proc: p.name, Kind: Step, Label: sl.label}, p)
	p.grant <- true
	return s.await(o.slot)
}

// start runs a new incarnation of a slot's process up to its first step (or its end).
func (s *schedule) start(i int) error {
	sl := s.slots[i]
	sl.runs++
	name := sl.proc.Name
	if sl.runs > 1 {
		name = fmt.Sprintf("%s#%d", name, sl.runs)
	}
	p := &Proc{name: name, grant: make(chan bool), reports: s.reports}
	sl.current = p
	s.record(&Event{Proc: name, Kind: Start}, p)
	go s.body(sl.proc.Run, p)
	return s.await(i)
}

// body runs one incarnation and reports how it ended.
func (s *schedule) body(run func(*Proc), p *Proc) {
	returned := false
	defer func() {
		r := recover()
		switch {
		case r != nil:
			s.reports <- report{kind: panicked, value: r, stack: debug.Stack()}
		case returned:
			s.reports <- report{kind: finished}
		case p.crashed:
			s.reports <- report{kind: crashed}
		default:
			s.reports <- report{kind: exited}
		}
	}()
	run(p)
	returned = true
}

// await waits for the running process to stop: at its next step, at its end, or at a crash.
func (s *schedule) await(i int) error {
	sl := s.slots[i]
	s.timer.Reset(s.opts.StepTimeout)
	var r report
	select {
	case r = <-s.reports:
	case <-s.timer.C:
		sl.done = true // it is stuck elsewhere: nothing can end it, so it is left behind
		s.abort()
		return fmt.Errorf("%s did not reach its next step within %v: does it block on something other than Step?",
			sl.current.name, s.opts.StepTimeout)
	}
	switch r.kind {
	case waiting:
		sl.label = r.label
	case finished:
		sl.done = true
	case crashed:
		// start is called next, by take.
	case panicked:
		sl.done = true
		s.abort()
		return fmt.Errorf("%s panicked: %v\n%s", sl.current.name, r.value, r.stack)
	case exited:
		sl.done = true
		s.abort()
		return fmt.Errorf("%s ended without returning (runtime.Goexit or t.FailNow in a process?)", sl.current.name)
	}
	return nil
}

// abort ends every process waiting at a step, so that a broken schedule leaves no goroutine behind.
func (s *schedule) abort() {
	for _, sl := range s.slots {
		if sl.done || sl.current == nil {
			continue
		}
		sl.done = true
		sl.current.grant <- false
		<-s.reports
	}
}

// record appends an event to the trace and makes it where p's notes go.
func (s *schedule) record(e *Event, p *Proc) {
	s.trace = append(s.trace, e)
	p.event = e
}

func (s *schedule) events() []Event {
	out := make([]Event, len(s.trace))
	for i, e := range s.trace {
		out[i] = *e
	}
	return out
}
