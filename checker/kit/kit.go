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

	"msglabs/checker/gotest"
	"msglabs/checker/lab"
	"msglabs/checker/progress"
	"msglabs/checker/safefile"
	"msglabs/checker/seal"
	"msglabs/checker/textdiff"
	"msglabs/shared/infra"
)

// EnvInstructor, set to 1, unlocks every lab and solution.
const EnvInstructor = "MSGLABS_INSTRUCTOR"

// BackupDir is where reset and apply keep the attendee's files, relative to the kit root.
const BackupDir = ".msglabs/backup"

// Kit is one checkout of the workshop kit.
type Kit struct {
	Root       string
	Catalog    *lab.Catalog
	Progress   *progress.Store
	Instructor bool
	// Warnings are problems that did not stop the kit from opening, e.g. a corrupt progress file.
	Warnings []string
	// Now is the clock; tests replace it.
	Now func() time.Time
}

// Open finds the kit root above dir, loads the catalog and the progress.
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
	k.Progress, warn = progress.Load(filepath.Join(root, filepath.FromSlash(progress.File)))
	if warn != nil {
		k.Warnings = append(k.Warnings, warn.Error())
	}
	return k, nil
}

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
	HintsShown       int             `json:"hints_shown"`
}

// List returns the labs that exist, in order, with their status.
func (k *Kit) List() []LabInfo {
	slugs := make([]string, len(k.Catalog.Labs))
	for i, l := range k.Catalog.Labs {
		slugs[i] = l.Slug
	}
	access := progress.Statuses(slugs, k.Progress.State(), k.Instructor)
	out := make([]LabInfo, len(slugs))
	for i, l := range k.Catalog.Labs {
		out[i] = LabInfo{Lab: l, Status: access[i].Status, Unlocked: access[i].Unlocked,
			SolutionUnlocked: access[i].SolutionUnlocked, HintsShown: min(k.Progress.Lab(l.Slug).HintsShown(), len(l.AllHints()))}
	}
	return out
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

// TestEnv returns the environment a lab's tests need: where the services are and where the checker is.
func TestEnv(eps infra.Endpoints, checker string) []string {
	env := []string{infra.EnvAMQP + "=" + eps.AMQP.URL, infra.EnvDatabase + "=" + eps.Database.URL}
	if checker != "" {
		env = append(env, infra.EnvChecker+"="+checker)
	}
	return env
}

// RunOptions configure a lab run.
type RunOptions struct {
	Endpoints infra.Endpoints // from infra.Resolve
	Checker   string          // path of the checker binary, for MSGLABS_CHECKER
	Timeout   time.Duration   // go test -timeout; 0 means gotest.DefaultTimeout
}

// RunResult is the outcome of running a lab against the attendee's files.
type RunResult struct {
	Lab         lab.Lab
	Report      *gotest.Report
	Kind        gotest.Kind // passed, failed, build-error, panic, timeout, infra
	WasLocked   bool        // the lab was run although it is locked
	TestsEdited []string    // test files that differ from the shipped ones; nothing is recorded then
	Unsealed    bool        // the lab has no seal yet (a kit in the making); nothing is recorded then
	Recorded    bool        // the outcome was saved in the progress
	Unlocked    []string    // what this run unlocked: "lab 4", "solution 3"
}

// Passed reports whether every test passed.
func (r *RunResult) Passed() bool { return r.Kind == gotest.Passed }

// Run runs lab n's tests against the attendee's files, streaming test events to onEvent (which may be nil), and
// records a pass or a failure in the progress unless the test files were edited or the run says nothing about
// the lab (INFRA).
func (k *Kit) Run(ctx context.Context, n int, o RunOptions, onEvent func(gotest.Event)) (*RunResult, error) {
	li, err := k.Info(n)
	if err != nil {
		return nil, err
	}
	res := &RunResult{Lab: li.Lab, WasLocked: !li.Unlocked}
	stale, err := seal.CheckLab(ctx, k.Catalog, li.Lab, true)
	if err != nil {
		return nil, err
	}
	res.Unsealed = len(li.Sealed.Tests) == 0
	for _, s := range stale {
		if !res.Unsealed && s.Kind == lab.KindTest {
			res.TestsEdited = append(res.TestsEdited, s.File)
		}
	}
	rep, err := gotest.Run(ctx, gotest.Options{
		Dir: k.Root, Package: "./" + li.Dir() + "/", LabDir: li.Dir(),
		Env: TestEnv(o.Endpoints, o.Checker), Timeout: o.Timeout, Quick: true,
	}, onEvent)
	if err != nil {
		return nil, fmt.Errorf("run lab %d: %w", n, err)
	}
	res.Report, res.Kind = rep, rep.Kind()
	if res.Kind == gotest.InfraError || res.Kind == gotest.NoTests || len(res.TestsEdited) > 0 || res.Unsealed {
		return res, nil
	}
	before := k.List()
	if err := k.Progress.Update(func(st *progress.State) {
		st.Record(li.Slug, progress.Run{At: k.Now(), Passed: res.Passed()})
	}); err != nil {
		return res, err
	}
	res.Recorded = true
	after := k.List()
	var labs, solutions []string
	for i := range after {
		if after[i].Unlocked && !before[i].Unlocked {
			labs = append(labs, fmt.Sprintf("lab %d", after[i].Number))
		}
		if after[i].SolutionUnlocked && !before[i].SolutionUnlocked {
			solutions = append(solutions, fmt.Sprintf("solution %d", after[i].Number))
		}
	}
	res.Unlocked = append(labs, solutions...)
	return res, nil
}

// Hint is one hint of a lab.
type Hint struct {
	Index int // 0-based
	Total int
	Text  string
}

// NextHint returns the next hint of lab n not shown yet (the last one again once all were shown) and remembers it.
func (k *Kit) NextHint(n int) (Hint, error) {
	l, err := k.Catalog.Lab(n)
	if err != nil {
		return Hint{}, err
	}
	hints := l.AllHints()
	if len(hints) == 0 {
		return Hint{}, fmt.Errorf("lab %d has no hints", n)
	}
	var i int
	if err := k.Progress.Update(func(st *progress.State) { i = st.ShowHint(l.Slug, 1, len(hints), k.Now()) }); err != nil {
		return Hint{}, err
	}
	return Hint{Index: i, Total: len(hints), Text: hints[i]}, nil
}

// Hints returns every hint of lab n and remembers that all were shown.
func (k *Kit) Hints(n int) ([]Hint, error) {
	l, err := k.Catalog.Lab(n)
	if err != nil {
		return nil, err
	}
	hints := l.AllHints()
	if len(hints) == 0 {
		return nil, fmt.Errorf("lab %d has no hints", n)
	}
	if err := k.Progress.Update(func(st *progress.State) { st.SetHintsShown(l.Slug, 1, len(hints), k.Now()) }); err != nil {
		return nil, err
	}
	out := make([]Hint, len(hints))
	for i, h := range hints {
		out[i] = Hint{Index: i, Total: len(hints), Text: h}
	}
	return out, nil
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
	stamp := k.Now().Format("20060102-150405.000")
	rel := BackupDir + "/" + stamp + "/" + l.Slug
	dir := k.Catalog.Path(rel)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("backup: %w", err)
	}
	for _, f := range l.Edit {
		data, err := os.ReadFile(filepath.Join(k.Catalog.Path(l.Dir()), f))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("backup: %w", err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), data, 0o644); err != nil {
			return "", fmt.Errorf("backup: %w", err)
		}
	}
	return rel, nil
}
