// Package kit is what the command line and the TUI do with a kit checkout: list the labs with their status, run a
// lab and stream its test events, give hints, show, diff and apply solutions, and reset a lab to its starter.
package kit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"msglabs/checker/lab"
	"msglabs/checker/progress"
	"msglabs/checker/safefile"
	"msglabs/checker/seal"
	"msglabs/checker/textdiff"
)

// EnvInstructor, set to 1, unlocks every lab and solution.
const EnvInstructor = "MSGLABS_INSTRUCTOR"

// BackupDir is where reset and apply keep the attendee's files, relative to the kit root.
const BackupDir = ".msglabs/backup"

// Kit is one checkout of the workshop kit. It is owned by one goroutine; other goroutines (a run in the
// background) open a Kit of their own, and the progress file keeps them in step (progress.Store).
type Kit struct {
	Root       string
	Catalog    *lab.Catalog
	Progress   *progress.Store
	Instructor bool
	// Shared is the mob's committed progress (progress.SharedFile), nil unless the checkout opted in.
	Shared *progress.Store
	// Warnings are problems that did not stop the kit from opening, e.g. a corrupt progress file.
	Warnings []string
	// Now is the clock; tests replace it.
	Now func() time.Time
}

// Open finds the kit root above dir, loads the catalog and the progress, and merges the mob's shared progress
// into it when the checkout has one.
func Open(dir string, instructor bool) (*Kit, error) {
	root, err := lab.FindRoot(dir)
	if err != nil {
		return nil, err
	}
	cat, err := lab.Load(root)
	if err != nil {
		return nil, err
	}
	k := &Kit{Root: root, Catalog: cat, Instructor: instructor, Now: time.Now}
	for _, p := range cat.Problems() {
		k.Warnings = append(k.Warnings, p+" (lab skipped)")
	}
	var warn error
	k.Progress, warn = progress.Load(k.path(progress.File))
	if warn != nil {
		k.Warnings = append(k.Warnings, warn.Error())
	}
	if err := k.openShared(); err != nil {
		k.Warnings = append(k.Warnings, err.Error())
	}
	return k, nil
}

func (k *Kit) path(rel string) string { return filepath.Join(k.Root, filepath.FromSlash(rel)) }

// InstructorFromEnv reports whether MSGLABS_INSTRUCTOR asks for instructor mode.
func InstructorFromEnv(getenv func(string) string) bool {
	v, _ := strconv.ParseBool(getenv(EnvInstructor))
	return v
}

// LabInfo is a lab with what the attendee may do with it.
type LabInfo struct {
	lab.Lab
	Status           progress.Status `json:"status"`
	Unlocked         bool            `json:"unlocked"`
	SolutionUnlocked bool            `json:"solution_unlocked"`
	CaughtUp         bool            `json:"caught_up,omitempty"` // passed by catch-up, not solved
	ChaosPassed      bool            `json:"chaos_passed,omitempty"`
	StartedAt        time.Time       `json:"started_at,omitzero"` // first run or hint
	HintsShown       int             `json:"hints_shown"`         // over all steps
	// Current is the step the attendee is on: the first step whose tests did not pass in the last run (1 before
	// any run; the last step once all pass).
	Current   int        `json:"current_step"`
	StepInfos []StepInfo `json:"step_progress"`
}

// StepInfo is one step of a lab with its progress.
type StepInfo struct {
	Number     int    `json:"number"`
	Title      string `json:"title"`
	Status     string `json:"status"` // "passed", "failing" or "todo" (by the last run)
	HintsShown int    `json:"hints_shown"`
	Hints      int    `json:"hints"`
}

// Step statuses.
const (
	StepPassed  = "passed"
	StepFailing = "failing"
	StepTodo    = "todo"
)

// List returns the labs that exist, in order, with their status.
func (k *Kit) List() []LabInfo {
	slugs := make([]string, len(k.Catalog.Labs))
	for i, l := range k.Catalog.Labs {
		slugs[i] = l.Slug
	}
	st := k.Progress.State()
	access := progress.Statuses(slugs, st, k.Instructor)
	out := make([]LabInfo, len(slugs))
	for i, l := range k.Catalog.Labs {
		p := st.Lab(l.Slug)
		out[i] = LabInfo{Lab: l, Status: access[i].Status, Unlocked: access[i].Unlocked,
			SolutionUnlocked: access[i].SolutionUnlocked, CaughtUp: access[i].CaughtUp, ChaosPassed: p.ChaosPassed,
			StartedAt: p.StartedAt, Current: currentStep(l, p)}
		for j, s := range l.Steps {
			sp := p.Step(j + 1)
			si := StepInfo{Number: j + 1, Title: s.Title, Status: StepTodo, HintsShown: min(sp.HintsShown, len(s.Hints)), Hints: len(s.Hints)}
			switch sp.LastRun {
			case progress.RunPass:
				si.Status = StepPassed
			case progress.RunFail:
				si.Status = StepFailing
			}
			out[i].HintsShown += si.HintsShown
			out[i].StepInfos = append(out[i].StepInfos, si)
		}
	}
	return out
}

// currentStep is the first step whose tests did not pass in the last run: 1 before any run, the last step once
// all pass.
func currentStep(l lab.Lab, p progress.LabProgress) int {
	for j := range l.Steps {
		if p.Step(j+1).LastRun != progress.RunPass {
			return j + 1
		}
	}
	return max(len(l.Steps), 1)
}

// Info returns lab n with its status.
func (k *Kit) Info(n int) (LabInfo, error) {
	if _, err := k.Catalog.Lab(n); err != nil {
		return LabInfo{}, err
	}
	for _, li := range k.List() {
		if li.Number == n {
			return li, nil
		}
	}
	return LabInfo{}, fmt.Errorf("there is no lab %d", n)
}

// LockedError says that a lab or solution is locked and how to unlock it.
type LockedError struct {
	What string // "lab 4" or "solution 3"
	How  string
}

func (e *LockedError) Error() string { return e.What + " is locked: " + e.How }

func (k *Kit) solutionAccess(n int) (LabInfo, error) {
	li, err := k.Info(n)
	if err != nil {
		return li, err
	}
	if !li.SolutionUnlocked {
		return li, &LockedError{What: fmt.Sprintf("solution %d", n),
			How: fmt.Sprintf("pass lab %d first (checker run %d), or use instructor mode (--instructor or %s=1)", n, n, EnvInstructor)}
	}
	return li, nil
}

// File is one file of a lab: its name in the lab folder, its path relative to the kit root, and its content.
type File struct {
	Name    string
	Path    string
	Content []byte
}

// StripBuildLine removes a leading `//go:build solution` line and the blank line after it.
func StripBuildLine(data []byte) []byte {
	first, rest, found := bytes.Cut(data, []byte("\n"))
	if !found || strings.TrimSpace(strings.TrimSuffix(string(first), "\r")) != "//go:build solution" {
		return data
	}
	if r, ok := bytes.CutPrefix(rest, []byte("\r\n")); ok {
		return r
	}
	if r, ok := bytes.CutPrefix(rest, []byte("\n")); ok {
		return r
	}
	return rest
}

// Solution returns the reference solution of lab n, build line stripped. It refuses while the solution is locked
// (a *LockedError).
func (k *Kit) Solution(n int) ([]File, error) {
	li, err := k.solutionAccess(n)
	if err != nil {
		return nil, err
	}
	var out []File
	for _, f := range li.Edit {
		rel := li.SolutionDir() + "/" + f
		data, err := os.ReadFile(k.Catalog.Path(rel))
		if err != nil {
			return nil, fmt.Errorf("read solution: %w", err)
		}
		out = append(out, File{Name: f, Path: rel, Content: StripBuildLine(data)})
	}
	return out, nil
}

// FollowUpFile is a lab's follow-up, in its folder: what just happened, why the fix works, its cost and limits, what
// a framework does here. It unlocks with the solution.
const FollowUpFile = "FOLLOWUP.md"

// FollowUp returns lab n's follow-up and its path relative to the kit root; "" when the lab has none yet. It
// refuses while the solution is locked (a *LockedError).
func (k *Kit) FollowUp(n int) (text, rel string, err error) {
	li, err := k.solutionAccess(n)
	if err != nil {
		return "", "", err
	}
	rel = li.Dir() + "/" + FollowUpFile
	data, err := os.ReadFile(k.Catalog.Path(rel))
	if errors.Is(err, os.ErrNotExist) {
		return "", rel, nil
	}
	if err != nil {
		return "", rel, fmt.Errorf("read follow-up: %w", err)
	}
	return string(data), rel, nil
}

// SolutionDiff returns a unified diff from the attendee's files of lab n to the solution; "" when they are equal.
func (k *Kit) SolutionDiff(n int) (string, error) {
	files, err := k.Solution(n)
	if err != nil {
		return "", err
	}
	l, _ := k.Catalog.Lab(n)
	var b strings.Builder
	for _, f := range files {
		mine := l.Dir() + "/" + f.Name
		cur, err := os.ReadFile(k.Catalog.Path(mine))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("read %s: %w", mine, err)
		}
		b.WriteString(textdiff.Unified("a/"+mine, "b/"+f.Path, string(cur), string(f.Content)))
	}
	return b.String(), nil
}

// ApplySolution backs up the attendee's edit files of lab n and writes the solution over them. It returns the
// backup folder, relative to the kit root.
func (k *Kit) ApplySolution(n int) (string, error) {
	files, err := k.Solution(n)
	if err != nil {
		return "", err
	}
	l, _ := k.Catalog.Lab(n)
	backup, err := k.backup(l)
	if err != nil {
		return "", err
	}
	for _, f := range files {
		if err := safefile.Write(filepath.Join(k.Catalog.Path(l.Dir()), f.Name), f.Content, 0o644); err != nil {
			return backup, fmt.Errorf("apply solution: %w", err)
		}
	}
	return backup, nil
}

// Reset backs up the attendee's edit files of lab n and restores the shipped starter. It returns the backup folder
// relative to the kit root, "" when the files already were the starter.
func (k *Kit) Reset(ctx context.Context, n int) (string, error) {
	l, err := k.Catalog.Lab(n)
	if err != nil {
		return "", err
	}
	shipped := map[string][]byte{}
	changed := false
	for _, f := range l.Edit {
		data, err := seal.Shipped(ctx, k.Catalog, l, f)
		if err != nil {
			return "", fmt.Errorf("reset lab %d: %w", n, err)
		}
		shipped[f] = data
		cur, err := os.ReadFile(filepath.Join(k.Catalog.Path(l.Dir()), f))
		if err != nil || !bytes.Equal(cur, data) {
			changed = true
		}
	}
	if !changed {
		return "", nil
	}
	backup, err := k.backup(l)
	if err != nil {
		return "", err
	}
	for _, f := range l.Edit {
		if err := safefile.Write(filepath.Join(k.Catalog.Path(l.Dir()), f), shipped[f], 0o644); err != nil {
			return backup, fmt.Errorf("reset lab %d: %w", n, err)
		}
	}
	return backup, nil
}

// backup copies the lab's edit files to .msglabs/backup/<time>/<slug>/ and returns that folder relative to the root.
func (k *Kit) backup(l lab.Lab) (string, error) {
	stamp := k.backupStamp()
	return BackupDir + "/" + stamp + "/" + l.Slug, k.backupTo(stamp, l)
}

func (k *Kit) backupStamp() string { return k.Now().Format("20060102-150405.000") }

// backupTo copies the lab's edit files to .msglabs/backup/<stamp>/<slug>/.
func (k *Kit) backupTo(stamp string, l lab.Lab) error {
	dir := k.path(BackupDir + "/" + stamp + "/" + l.Slug)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	for _, f := range l.Edit {
		data, err := os.ReadFile(filepath.Join(k.Catalog.Path(l.Dir()), f))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("backup: %w", err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), data, 0o644); err != nil {
			return fmt.Errorf("backup: %w", err)
		}
	}
	return nil
}
