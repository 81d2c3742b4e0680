// Package explore checks a small concurrent algorithm in every interleaving of its steps, not just the one a test
// happens to run. Processes are plain Go functions that call Proc.Step before each action that other processes could
// observe ("read inbox", "write charge"). The explorer runs them as goroutines but lets only one of them move at a
// time: at every step it decides who goes next, and it tries every possible decision, depth first. It can also make
// a process crash at a step: the process loses everything it held in memory and starts over from the beginning, the
// way a service that died before acking gets the message again.
//
// Invariants are checked as the literature sorts them. A safety property ("no OrderBilled for a charge that is not in
// the ledger") is checked after every step of every schedule: a moment in which it is false is a failure, even if a
// later step repairs it. A property marked AtEnd ("every acked message was charged": liveness within the bound) is
// checked once every process has finished. The explorer stops at the first schedule that breaks one, and returns it
// as a readable trace up to the step after which it broke, with how many schedules it explored and how long that
// took.
//
// Explore tries every schedule within a bound, depth first. Sample draws random schedules from a seed instead: for a
// bound too large to enumerate (more processes, more crashes), the same seed draws the same schedules.
//
// A model must be deterministic: the same decisions must lead to the same steps. Build all state afresh in the
// build function given to Explore (no globals, no clocks, no randomness, no maps iterated for output) and let
// processes talk only through that state. Code between two steps runs without interruption.
package explore

import (
	"errors"
	"fmt"
	"math/rand/v2"
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
	// DefaultCrashPercent is Sample's chance, at each decision while crashes are left, that a process crashes there.
	DefaultCrashPercent = 10
)

// ErrBlocked is what Explore's error wraps when a process blocked outside its steps: on a lock, a channel, a sleep.
// Only one process moves at a time, so a process that waits for another outside Step waits for ever. (In a real
// system the instances are separate processes: a lock in memory would not hold them back either.)
var ErrBlocked = errors.New("a process blocked outside its steps")

// Options bound the exploration.
type Options struct {
	MaxCrashes   int           // crashes per schedule, across all processes (0: no crashes)
	MaxSteps     int           // steps per schedule before it is an error (0: DefaultMaxSteps)
	StepTimeout  time.Duration // how long a process may take to reach its next step (0: DefaultStepTimeout)
	CrashPercent int           // Sample only: the chance of a crash at each decision (0: DefaultCrashPercent)
}

// Process is one participant of a model: a name for the trace and the code it runs. Run starts from the top after a
// crash, with a fresh Proc: whatever it kept in local variables is gone, only the model's shared state remains.
type Process struct {
	Name string
	Run  func(p *Proc)
}

// Invariant is a property every schedule must have. Check returns nil when it holds, or an error saying in plain
// words what went wrong ("order o-1 was charged 2 times"). Marker is the failure mode a violation shows. Check reads
// the model's state; it runs while every process is stopped at a step.
type Invariant struct {
	Name   string // as the literature names it: "no duplicated processing"
	Marker story.Marker
	Check  func() error
	// AtEnd makes this a property that need only hold once every process has finished (liveness within the bound:
	// "every acked message was charged"). Without it, the invariant is a safety property, checked after every step.
	AtEnd bool
}

// Model is one fresh copy of the system under test: its processes and the invariants to check when they are done.
type Model struct {
	Processes  []Process
	Invariants []Invariant
}

// Result is what an exploration found.
type Result struct {
	Schedules int           // schedules explored (including the failing one)
	Elapsed   time.Duration // wall time of the whole exploration
	Failure   *Failure      // the first schedule that broke an invariant; nil when none did
	Sampled   bool          // the schedules were drawn at random (Sample), not enumerated (Explore)
	Seed      uint64        // Sample's seed
}

// Summary says how much was explored, e.g. "explored 1234 schedules in 310ms", or "sampled 3000 random schedules
// (seed 7) in 250ms".
func (r Result) Summary() string {
	elapsed := r.Elapsed.Round(time.Millisecond)
	schedules := "schedules"
	if r.Schedules == 1 {
		schedules = "schedule"
	}
	if r.Sampled {
		return fmt.Sprintf("sampled %d random %s (seed %d) in %v", r.Schedules, schedules, r.Seed, elapsed)
	}
	return fmt.Sprintf("explored %d %s in %v", r.Schedules, schedules, elapsed)
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
	AfterLine int // the trace line after which it was broken; 0 when it was broken once every process had finished
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
		lines = append(lines, fmt.Sprintf("broken %s: %q (%s: %v)", v.When(), v.Invariant, v.Marker, v.Err))
	}
	return lines
}

// When says at which moment of its schedule the invariant broke: "right after line 5", or "once every process had
// finished".
func (v Violation) When() string {
	if v.AfterLine > 0 {
		return fmt.Sprintf("right after line %d", v.AfterLine)
	}
	return "once every process had finished"
}

// String is the failure as one text: the first violation, then the trace.
func (f *Failure) String() string {
	v := f.First()
	return fmt.Sprintf("%s: %v (invariant %q broken in schedule %d, %s)\n  %s", v.Marker, v.Err, v.Invariant,
		f.Schedule, v.When(), strings.Join(f.Lines(), "\n  "))
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

// note is a Proc.Note not formatted yet: most schedules pass, and their traces are never shown.
type note struct {
	format string
	args   []any
}

// event is a trace line as the explorer keeps it, with its notes unformatted.
type event struct {
	Event
	notes []note
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
	event   *event // the trace event notes go to, set by the scheduler before it lets the process run
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

// Note adds a remark to the current trace line (the last step taken, or the start), e.g. "m-1 not seen". The
// remark is formatted only if the trace is shown, after the schedule: pass values (strings, numbers, structs), not
// pointers or slices that the model changes later.
func (p *Proc) Note(format string, args ...any) {
	p.event.notes = append(p.event.notes, note{format, args})
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

// Explore runs build's model in every schedule within opts' bounds and checks its invariants: the safety ones after
// every step, the AtEnd ones when every process has finished. It stops at the first schedule that breaks one. An
// error means the model itself is broken (it panicked, looped, blocked, or behaved differently when replayed), not
// that an invariant failed; a process that blocked outside its steps makes an error that wraps ErrBlocked.
func Explore(opts Options, build func() Model) (Result, error) {
	opts = withDefaults(opts)
	start := time.Now()
	var res Result
	var prefix, prevCounts []int
	timer := time.NewTimer(opts.StepTimeout)
	defer timer.Stop()
	for {
		s := &schedule{opts: opts, prefix: prefix, prevCounts: prevCounts, reports: make(chan report), timer: timer}
		if done, err := s.explore(build, &res, start); done || err != nil {
			return res, err
		}
		var more bool
		prefix, more = next(s.choices, s.counts)
		if !more {
			return res, nil
		}
		prevCounts = s.counts
	}
}

// Sample runs build's model in runs random schedules within opts' bounds, drawn from seed, and checks its invariants
// as Explore does. At each decision a process crashes with opts.CrashPercent chance (while crashes are left);
// otherwise one of the waiting processes takes its step, each as likely as the others. The same seed draws the same
// schedules, in the same order.
func Sample(opts Options, runs int, seed uint64, build func() Model) (Result, error) {
	opts = withDefaults(opts)
	start := time.Now()
	res := Result{Sampled: true, Seed: seed}
	rng := rand.New(rand.NewPCG(seed, seed^0x6578706c6f7265))
	timer := time.NewTimer(opts.StepTimeout)
	defer timer.Stop()
	for range runs {
		s := &schedule{opts: opts, random: rng, reports: make(chan report), timer: timer}
		if done, err := s.explore(build, &res, start); done || err != nil {
			return res, err
		}
	}
	return res, nil
}

func withDefaults(opts Options) Options {
	if opts.MaxSteps == 0 {
		opts.MaxSteps = DefaultMaxSteps
	}
	if opts.StepTimeout == 0 {
		opts.StepTimeout = DefaultStepTimeout
	}
	if opts.CrashPercent == 0 {
		opts.CrashPercent = DefaultCrashPercent
	}
	return opts
}

// explore runs one schedule of a fresh model into res. It reports true when the schedule broke an invariant.
func (s *schedule) explore(build func() Model, res *Result, start time.Time) (bool, error) {
	err := s.run(build())
	res.Elapsed = time.Since(start)
	if err != nil {
		return false, fmt.Errorf("schedule %d: %w", res.Schedules+1, err)
	}
	res.Schedules++
	if len(s.violations) == 0 {
		return false, nil
	}
	res.Failure = &Failure{Schedule: res.Schedules, Violations: s.violations, Trace: s.events()}
	return true, nil
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

// schedule is one run of the model, following prefix for its first decisions and taking the first option after, or,
// with random set, drawing every decision from it.
type schedule struct {
	opts       Options
	prefix     []int      // decisions to replay
	prevCounts []int      // options at each decision in the previous run, to catch a model that is not deterministic
	random     *rand.Rand // Sample's source of decisions; nil for Explore
	reports    chan report
	timer      *time.Timer // bounds each wait for a process; shared by all schedules of one Explore

	slots      []*slot
	trace      []*event
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
	for !s.broken(m.Invariants) {
		opts := s.options()
		if len(opts) == 0 {
			s.check(m.Invariants, true)
			return nil
		}
		if s.steps >= s.opts.MaxSteps {
			s.abort()
			return fmt.Errorf("no end after %d steps: does a process loop forever? (Options.MaxSteps)", s.opts.MaxSteps)
		}
		pick, err := s.decide(len(opts), s.waiting())
		if err != nil {
			s.abort()
			return err
		}
		if err := s.take(opts[pick]); err != nil {
			return err
		}
	}
	s.abort()
	return nil
}

// broken checks the safety invariants now, and reports whether one is broken.
func (s *schedule) broken(invs []Invariant) bool {
	s.check(invs, false)
	return len(s.violations) > 0
}

// check records the invariants that do not hold now: the safety ones, or, at the end (when the safety ones were
// just checked in the same state), the AtEnd ones.
func (s *schedule) check(invs []Invariant, end bool) {
	after := len(s.trace)
	if end {
		after = 0
	}
	for _, inv := range invs {
		if inv.AtEnd != end {
			continue
		}
		if err := inv.Check(); err != nil {
			s.violations = append(s.violations, Violation{Invariant: inv.Name, Marker: inv.Marker, Err: err, AfterLine: after})
		}
	}
}

// waiting is how many processes wait at a step: the number of step options (the crash options come after them).
func (s *schedule) waiting() int {
	n := 0
	for _, sl := range s.slots {
		if !sl.done {
			n++
		}
	}
	return n
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

// decide picks one of n options, the first steps of which are steps (the rest crashes): the replayed one while the
// prefix lasts, the first one after it; or, sampling, a random one.
func (s *schedule) decide(n, steps int) (int, error) {
	if s.random != nil {
		pick := s.random.IntN(steps)
		if n > steps && s.random.IntN(100) < s.opts.CrashPercent {
			pick = steps + s.random.IntN(n-steps)
		}
		s.choices = append(s.choices, pick)
		s.counts = append(s.counts, n)
		return pick, nil
	}
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
		s.record(&event{Event: Event{Proc: p.name, Kind: Crash, Label: sl.label}}, p)
		p.grant <- false
		if err := s.await(o.slot); err != nil {
			return err
		}
		return s.start(o.slot)
	}
	s.record(&event{Event: Event{Proc: p.name, Kind: Step, Label: sl.label}}, p)
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
	s.record(&event{Event: Event{Proc: name, Kind: Start}}, p)
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
		return fmt.Errorf("%s did not reach its next step within %v (does it wait for a lock, a channel or a timer, "+
			"outside Step?): %w", sl.current.name, s.opts.StepTimeout, ErrBlocked)
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
func (s *schedule) record(e *event, p *Proc) {
	s.trace = append(s.trace, e)
	p.event = e
}

// events is the trace with its notes formatted.
func (s *schedule) events() []Event {
	out := make([]Event, len(s.trace))
	for i, e := range s.trace {
		out[i] = e.Event
		for _, n := range e.notes {
			out[i].Notes = append(out[i].Notes, fmt.Sprintf(n.format, n.args...))
		}
	}
	return out
}
