// Package progress remembers, per attendee checkout, how each lab and each of its steps went, how many hints were
// shown per step, when the lab was started, whether it was passed or only caught up, and whether its chaos stage
// passed; and it decides what is unlocked.
//
// The state lives in .msglabs/progress.json. Several checkers may share one checkout (the TUI in one terminal,
// `make lab-N` in another), so every change goes through Store.Update: it takes a file lock, re-reads the file, applies
// the change to what is on disk now, and writes it back atomically. Nothing another checker recorded is lost.
package progress

import (
	"fmt"
	"time"
)

// File is the progress file relative to the kit root.
const File = ".msglabs/progress.json"

// SharedFile is the opt-in progress that travels with a mob's git hand-over, relative to the kit root: outside the
// git-ignored .msglabs/, committed with the code. When it exists, the kit merges it into File on open and writes
// every change to both.
const SharedFile = "mob-progress.json"

// version of the file format. Version 1 kept one hint count per lab; version 2 keeps steps.
const version = 2

// Bounds that a loaded value must respect; anything outside is clamped on load, so a hand-edited file never panics.
const (
	maxHints = 100 // hints shown per step
	maxSteps = 32  // steps per lab
)

// Outcomes of a run, as stored.
const (
	RunPass = "pass"
	RunFail = "fail"
)

// StepProgress is what is remembered about one step of a lab.
type StepProgress struct {
	LastRun    string    `json:"last_run,omitempty"`    // RunPass or RunFail: the step's tests in the last run
	PassedAt   time.Time `json:"passed_at,omitzero"`    // first run in which the step passed
	HintsShown int       `json:"hints_shown,omitempty"` // hints of this step shown so far
}

// LabProgress is what is remembered about one lab.
type LabProgress struct {
	Passed      bool      `json:"passed,omitempty"`    // passed at least once (visible tests and chaos): unlocks
	PassedAt    time.Time `json:"passed_at,omitzero"`  // first pass
	CaughtUp    bool      `json:"caught_up,omitempty"` // passed by `checker catch-up` (solution applied), not solved
	StartedAt   time.Time `json:"started_at,omitzero"` // first run or first hint
	LastRun     string    `json:"last_run,omitempty"`  // RunPass or RunFail
	LastRunAt   time.Time `json:"last_run_at,omitzero"`
	ChaosPassed bool      `json:"chaos_passed,omitempty"` // the chaos stage passed at least once
	// Steps are keyed by step number, from 1.
	Steps map[int]*StepProgress `json:"steps,omitempty"`
}

// Step returns the progress of step k (a zero value if there is none yet).
func (p LabProgress) Step(k int) StepProgress {
	if s := p.Steps[k]; s != nil {
		return *s
	}
	return StepProgress{}
}

// HintsShown is the number of hints shown over all steps.
func (p LabProgress) HintsShown() int {
	n := 0
	for _, s := range p.Steps {
		if s != nil {
			n += s.HintsShown
		}
	}
	return n
}

func (p *LabProgress) step(k int) *StepProgress {
	if p.Steps == nil {
		p.Steps = map[int]*StepProgress{}
	}
	s := p.Steps[k]
	if s == nil {
		s = &StepProgress{}
		p.Steps[k] = s
	}
	return s
}

func (p LabProgress) clone() *LabProgress {
	c := p
	c.Steps = nil
	for k, s := range p.Steps {
		if s != nil {
			c.step(k)
			*c.Steps[k] = *s
		}
	}
	return &c
}

// State is the content of the progress file, keyed by lab slug. Its methods change it in memory; Store.Update is
// how a change reaches the file.
type State struct {
	Version int                     `json:"version"`
	Labs    map[string]*LabProgress `json:"labs"`
}

// Lab returns a copy of the progress of a lab (a zero value if there is none yet).
func (st *State) Lab(slug string) LabProgress {
	if p := st.Labs[slug]; p != nil {
		return *p.clone()
	}
	return LabProgress{}
}

func (st *State) lab(slug string) *LabProgress {
	if st.Labs == nil {
		st.Labs = map[string]*LabProgress{}
	}
	p := st.Labs[slug]
	if p == nil {
		p = &LabProgress{}
		st.Labs[slug] = p
	}
	return p
}

// Clone returns a deep copy.
func (st *State) Clone() State {
	c := State{Version: st.Version, Labs: map[string]*LabProgress{}}
	for slug, p := range st.Labs {
		if p != nil {
			c.Labs[slug] = p.clone()
		}
	}
	return c
}

// Start notes that the attendee started the lab at at, unless it was started before.
func (st *State) Start(slug string, at time.Time) {
	if p := st.lab(slug); p.StartedAt.IsZero() {
		p.StartedAt = at
	}
}

// Run is the outcome of one counted run of a lab, as Record stores it.
type Run struct {
	At     time.Time
	Passed bool   // the lab passed as a whole: every step's tests and, where the lab has one, the chaos stage
	Steps  []bool // whether each step's tests passed, step 1 first; nil when the lab has no steps
	Chaos  string // RunPass or RunFail when the chaos stage ran, "" when it did not
}

// Record notes the outcome of a run of the lab. A real pass turns a caught-up lab into a solved one.
func (st *State) Record(slug string, r Run) {
	st.Start(slug, r.At)
	p := st.lab(slug)
	p.LastRunAt = r.At
	p.LastRun = outcome(r.Passed)
	for i, passed := range r.Steps {
		s := p.step(i + 1)
		s.LastRun = outcome(passed)
		if passed && s.PassedAt.IsZero() {
			s.PassedAt = r.At
		}
	}
	if r.Chaos == RunPass {
		p.ChaosPassed = true
	}
	if !r.Passed {
		return
	}
	if !p.Passed || p.CaughtUp {
		p.Passed, p.PassedAt = true, r.At
	}
	p.CaughtUp = false
}

// RecordChaos notes that the lab's chaos stage passed in a run of its own (`checker chaos N`). The lab passes only
// in a run of its visible tests and its chaos stage together.
func (st *State) RecordChaos(slug string, at time.Time) {
	st.Start(slug, at)
	st.lab(slug).ChaosPassed = true
}

// CatchUp records lab slug as passed by catch-up (the solution was applied, not written), with all its steps
// passed. A lab that was already solved stays solved.
func (st *State) CatchUp(slug string, steps int, at time.Time) {
	p := st.lab(slug)
	if p.Passed && !p.CaughtUp {
		return
	}
	p.Passed, p.PassedAt, p.CaughtUp = true, at, true
	p.LastRun, p.LastRunAt = RunPass, at
	if p.StartedAt.IsZero() {
		p.StartedAt = at
	}
	for k := 1; k <= steps; k++ {
		s := p.step(k)
		s.LastRun = RunPass
		if s.PassedAt.IsZero() {
			s.PassedAt = at
		}
	}
}

// ShowHint counts one more hint shown for step k of the lab (up to total) and returns the 0-based index of the hint
// to show. Once all were shown it keeps returning the last one. It also starts the lab.
func (st *State) ShowHint(slug string, k, total int, at time.Time) int {
	st.Start(slug, at)
	s := st.lab(slug).step(k)
	if s.HintsShown < total {
		s.HintsShown++
	}
	// A count above total (a hand-edited file, or a step that lost hints since) still shows the last hint.
	return max(min(s.HintsShown, total)-1, 0)
}

// SetHintsShown records that n hints of step k were shown (never fewer than before).
func (st *State) SetHintsShown(slug string, k, n int, at time.Time) {
	st.Start(slug, at)
	s := st.lab(slug).step(k)
	s.HintsShown = max(s.HintsShown, min(n, maxHints))
}

func outcome(passed bool) string {
	if passed {
		return RunPass
	}
	return RunFail
}

// validate clamps what a hand-edited or damaged file may hold, and returns a sentence per fix.
func (st *State) validate() []string {
	var fixes []string
	if st.Labs == nil {
		st.Labs = map[string]*LabProgress{}
	}
	for slug, p := range st.Labs {
		if p == nil {
			delete(st.Labs, slug)
			continue
		}
		p.LastRun = validRun(p.LastRun)
		for k, s := range p.Steps {
			switch {
			case s == nil:
				delete(p.Steps, k)
			case k < 1 || k > maxSteps:
				fixes = append(fixes, fmt.Sprintf("lab %s: dropped step %d (steps are 1 to %d)", slug, k, maxSteps))
				delete(p.Steps, k)
			case s.HintsShown < 0 || s.HintsShown > maxHints:
				fixes = append(fixes, fmt.Sprintf("lab %s step %d: hints shown %d is out of range, set to %d",
					slug, k, s.HintsShown, clamp(s.HintsShown, 0, maxHints)))
				s.HintsShown = clamp(s.HintsShown, 0, maxHints)
			}
			if s != nil {
				s.LastRun = validRun(s.LastRun)
			}
		}
	}
	st.Version = version
	return fixes
}

func validRun(s string) string {
	if s == RunPass || s == RunFail {
		return s
	}
	return ""
}

func clamp(n, lo, hi int) int { return max(lo, min(n, hi)) }

// Status of a lab as the list shows it.
type Status string

// Lab statuses.
const (
	Locked  Status = "locked"
	Todo    Status = "todo"
	Failing Status = "failing"
	Passed  Status = "passed"
)

// Access is what an attendee may do with one lab.
type Access struct {
	Slug             string `json:"slug"`
	Status           Status `json:"status"`
	Unlocked         bool   `json:"unlocked"`
	SolutionUnlocked bool   `json:"solution_unlocked"`
	CaughtUp         bool   `json:"caught_up,omitempty"` // passed by catch-up, not solved
}

// Statuses applies the unlock rules to the labs (slugs in catalog order): the first lab is open; a lab unlocks when
// the one before it passed (or it passed itself); a lab's solution unlocks when the lab passed. Instructor mode
// unlocks everything.
func Statuses(slugs []string, st State, instructor bool) []Access {
	out := make([]Access, len(slugs))
	for i, slug := range slugs {
		p := st.Lab(slug)
		prevPassed := i == 0 || st.Lab(slugs[i-1]).Passed
		a := Access{Slug: slug, Unlocked: instructor || prevPassed || p.Passed, SolutionUnlocked: instructor || p.Passed,
			CaughtUp: p.Passed && p.CaughtUp}
		switch {
		case !a.Unlocked:
			a.Status = Locked
		case p.LastRun == RunPass:
			a.Status = Passed
		case p.LastRun == RunFail:
			a.Status = Failing
		default:
			a.Status = Todo
		}
		out[i] = a
	}
	return out
}
