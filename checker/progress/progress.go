// Package progress remembers, per attendee checkout, which labs passed, how the last run went and how many hints
// were shown, in .msglabs/progress.json; and it decides what is unlocked.
package progress

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"msglabs/checker/safefile"
)

// File is the progress file relative to the kit root.
const File = ".msglabs/progress.json"

// version of the file format.
const version = 1

// LabProgress is what is remembered about one lab.
type LabProgress struct {
	Passed     bool      `json:"passed,omitempty"`   // passed at least once: unlocks the next lab and this solution
	PassedAt   time.Time `json:"passed_at,omitzero"` // first pass
	LastRun    string    `json:"last_run,omitempty"` // "pass" or "fail"
	LastRunAt  time.Time `json:"last_run_at,omitzero"`
	HintsShown int       `json:"hints_shown,omitempty"`
}

// State is the content of the progress file, keyed by lab slug.
type State struct {
	Version int                     `json:"version"`
	Labs    map[string]*LabProgress `json:"labs"`
}

// Store is the progress of one kit checkout.
type Store struct {
	path  string
	State State
}

// Load reads the progress file at path. A missing file is an empty progress. A corrupt file is also an empty
// progress (it is rebuilt on the next Save), and the returned warning says so; it is never fatal.
func Load(path string) (s *Store, warning error) {
	s = &Store{path: path, State: State{Version: version, Labs: map[string]*LabProgress{}}}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return s, fmt.Errorf("read progress %s: %w; starting afresh", path, err)
	}
	var st State
	if err := json.Unmarshal(data, &st); err != nil {
		return s, fmt.Errorf("progress file %s is corrupt (%v); starting afresh, it will be rewritten", path, err)
	}
	if st.Labs == nil {
		st.Labs = map[string]*LabProgress{}
	}
	for k, v := range st.Labs {
		if v == nil {
			delete(st.Labs, k)
		}
	}
	st.Version = version
	s.State = st
	return s, nil
}

// Path is the file the store saves to.
func (s *Store) Path() string { return s.path }

// Lab returns the progress of a lab (a zero value if there is none yet).
func (s *Store) Lab(slug string) LabProgress {
	if p := s.State.Labs[slug]; p != nil {
		return *p
	}
	return LabProgress{}
}

func (s *Store) lab(slug string) *LabProgress {
	p := s.State.Labs[slug]
	if p == nil {
		p = &LabProgress{}
		s.State.Labs[slug] = p
	}
	return p
}

// Record notes the outcome of a run of the lab.
func (s *Store) Record(slug string, passed bool, at time.Time) {
	p := s.lab(slug)
	p.LastRunAt = at
	if passed {
		p.LastRun = "pass"
		if !p.Passed {
			p.Passed, p.PassedAt = true, at
		}
		return
	}
	p.LastRun = "fail"
}

// ShowHint counts one more hint shown for the lab (up to total) and returns the 0-based index of the hint to show.
// Once all were shown it keeps returning the last one.
func (s *Store) ShowHint(slug string, total int) int {
	p := s.lab(slug)
	if p.HintsShown < total {
		p.HintsShown++
	}
	return p.HintsShown - 1
}

// SetHintsShown records that n hints were shown.
func (s *Store) SetHintsShown(slug string, n int) { s.lab(slug).HintsShown = n }

// Save writes the progress atomically: a temporary file next to it, then a rename.
func (s *Store) Save() error {
	data, err := json.MarshalIndent(s.State, "", "  ")
	if err != nil {
		return fmt.Errorf("save progress: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(s.path), 0o755); err != nil {
		return fmt.Errorf("save progress: %w", err)
	}
	if err := safefile.Write(s.path, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("save progress: %w", err)
	}
	return nil
}

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
}

// Statuses applies the unlock rules to the labs (slugs in catalog order): the first lab is open; a lab unlocks when
// the one before it passed (or it passed itself); a lab's solution unlocks when the lab passed. Instructor mode
// unlocks everything.
func Statuses(slugs []string, st State, instructor bool) []Access {
	out := make([]Access, len(slugs))
	for i, slug := range slugs {
		p := LabProgress{}
		if st.Labs[slug] != nil {
			p = *st.Labs[slug]
		}
		prevPassed := i == 0 || (st.Labs[slugs[i-1]] != nil && st.Labs[slugs[i-1]].Passed)
		a := Access{Slug: slug, Unlocked: instructor || prevPassed || p.Passed, SolutionUnlocked: instructor || p.Passed}
		switch {
		case !a.Unlocked:
			a.Status = Locked
		case p.LastRun == "pass":
			a.Status = Passed
		case p.LastRun == "fail":
			a.Status = Failing
		default:
			a.Status = Todo
		}
		out[i] = a
	}
	return out
}
