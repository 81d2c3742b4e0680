package kit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"msglabs/checker/doctor"
	"msglabs/checker/gotest"
	"msglabs/checker/lab"
	"msglabs/checker/seal"
	"msglabs/shared/infra"
	"msglabs/shared/story"
)

// Environment the checker gives a lab's test binary, besides the services' URLs (D3, D6).
const (
	EnvOwner     = "MSGLABS_OWNER"      // whose names the harness creates: the start-up sweep and clean find them
	EnvChaos     = "MSGLABS_CHAOS"      // set: TestChaos runs instead of skipping
	EnvChaosSeed = "MSGLABS_CHAOS_SEED" // the first schedule's seed; run i uses seed+i
	EnvChaosRuns = "MSGLABS_CHAOS_RUNS" // how many schedules
)

// RunsDir holds a folder per lab for its last run (the full log, the events), relative to the kit root.
const RunsDir = ".msglabs/runs"

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
	Owner     string          // MSGLABS_OWNER; "" leaves the harness's default
	Timeout   time.Duration   // the test binary's timeout; 0 means gotest.DefaultTimeout
	// Probes, when set, check both services the way doctor does while the test binary builds; a service that does
	// not answer stops the run as INFRA.
	Probes *doctor.Probes
	// NoChaos skips the chaos stage after the visible tests pass: the run then cannot pass a lab that has one.
	NoChaos bool
}

// ChaosOptions configure a chaos stage.
type ChaosOptions struct {
	Seed string // "" lets the lab's test pick its fixed default seed
	Runs int    // 0 means the lab's default (lab.yaml's chaos.runs)
}

// Outcome is what a run says about the lab as a whole.
type Outcome string

// Outcomes. Only Passed and Failing are about the attendee's code, and only they are recorded.
const (
	Passed     Outcome = "passed"      // every step's tests pass, and the chaos stage where the lab has one
	Failing    Outcome = "failing"     // a test failed, the code does not compile, panics, hangs or exits
	InfraDown  Outcome = "infra"       // a service failed: not the attendee's fault
	NotCounted Outcome = "not-counted" // a sealed test did not run, or sealed files differ from labs.sum
)

// StepResult is one step of a lab in a run.
type StepResult struct {
	Number int
	Step   lab.Step
	Tests  []gotest.Result // the step's tests that ran, in the step's order
	NotRun []string        // the step's tests that did not run, or were skipped
	Passed bool            // every test of the step passed (and, in a written step, the test caught the planted bug)
	// Planted is the attendee's own test against the kit's planted bug, in a step where they write one; nil when
	// the step has none, or when that run did not happen (their test did not pass on the kit's service first).
	Planted *PlantedResult
	// PlantedLater is set, in a step where the attendee writes a test, when their test passed on the kit's service
	// but was not run against the planted bug yet: that waits until the steps before it pass or the attendee
	// changes the step's files (see plantedNow). The step is not passed.
	PlantedLater bool
}

// PlantedResult is a written test (lab.Written) run against the planted bug: the lab with the files of
// testdata/planted/<name>/ in place of its own.
type PlantedResult struct {
	Written lab.Written
	Report  *gotest.Report
	Test    gotest.Result // the written test's result; Status is "" when it did not run
	Caught  bool          // it failed, with Written.Marker
}

// Failed returns the step's failed tests.
func (s StepResult) Failed() []gotest.Result {
	var out []gotest.Result
	for _, t := range s.Tests {
		if t.Status == gotest.Fail {
			out = append(out, t)
		}
	}
	return out
}

// ChaosResult is a chaos stage: TestChaos against the attendee's code.
type ChaosResult struct {
	Report *gotest.Report
	Kind   gotest.Kind
	Seed   string // as asked; "" for the lab's default
	Runs   int
}

// Passed reports whether TestChaos ran and passed.
func (c *ChaosResult) Passed() bool {
	if c == nil || c.Report == nil || c.Kind != gotest.Passed {
		return false
	}
	t, ok := c.Report.Test(lab.ChaosTest)
	return ok && t.Status == gotest.Pass
}

// RunResult is the outcome of running a lab against the attendee's files. Running records nothing: Kit.Record
// does, when the run counts.
type RunResult struct {
	Lab       lab.Lab
	WasLocked bool           // the lab was run although it is locked
	Report    *gotest.Report // the visible tests; nil when the run stopped before them, or for a chaos-only run
	Kind      gotest.Kind    // of Report
	Steps     []StepResult   // every step, in order
	Current   int            // the first step that did not pass (1-based); 0 when all passed
	Chaos     *ChaosResult   // nil when the chaos stage did not run
	// Infra lists the services that failed: before the run (Preflight) or during it (a test reported INFRA).
	Infra []Infra
	// NotCounted says why the run cannot count, one sentence each: a sealed test did not run, a sealed file differs.
	NotCounted []string
	Mistakes   []lab.Mistake // the named mistakes the failures match
	ChaosOnly  bool          // a `checker chaos` run: the visible tests did not run

	Recorded bool     // Kit.Record saved the outcome
	Unlocked []string // what Kit.Record unlocked: "lab 4", "solution 3"
}

// Outcome says what the run says about the lab.
func (r *RunResult) Outcome() Outcome {
	switch {
	case len(r.Infra) > 0:
		return InfraDown
	case len(r.NotCounted) > 0:
		return NotCounted
	case r.ChaosOnly:
		if r.Chaos.Passed() {
			return Passed
		}
		return Failing
	case r.Kind == gotest.NotRun:
		return NotCounted
	case r.Kind != gotest.Passed:
		return Failing
	case !r.writtenCaught():
		return Failing
	case r.Lab.Chaos != nil && !r.Chaos.Passed():
		return Failing
	}
	return Passed
}

// writtenCaught reports whether every test the attendee writes caught its planted bug.
func (r *RunResult) writtenCaught() bool {
	for _, s := range r.Steps {
		if s.Step.Written != nil && (s.Planted == nil || !s.Planted.Caught) {
			return false
		}
	}
	return true
}

// Passed reports whether the lab passed as a whole.
func (r *RunResult) Passed() bool { return r.Outcome() == Passed }

// ChaosPending reports whether the visible tests passed but the lab's chaos stage did not run.
func (r *RunResult) ChaosPending() bool {
	return !r.ChaosOnly && r.Kind == gotest.Passed && r.Lab.Chaos != nil && r.Chaos == nil
}

// Run runs lab n's visible tests (every step's failing tests and guards, exactly those) against the attendee's
// files, streaming test events to onEvent (which may be nil); once they all pass it runs the chaos stage, where the
// lab has one. It records nothing (see Record).
func (k *Kit) Run(ctx context.Context, n int, o RunOptions, onEvent func(gotest.Event)) (*RunResult, error) {
	li, err := k.Info(n)
	if err != nil {
		return nil, err
	}
	res := &RunResult{Lab: li.Lab, WasLocked: !li.Unlocked}
	if err := k.checkSeals(res); err != nil {
		return nil, err
	}
	stopPlanted := k.prebuildPlanted(ctx, li.Lab, o)
	defer stopPlanted()
	rep, err := k.runGuarded(ctx, res, o, k.visibleOptions(li.Lab, o), onEvent)
	if err != nil || rep == nil {
		return res, err
	}
	res.Report, res.Kind = rep, rep.Kind()
	k.saveTook(li.Number, rep)
	k.judgeSteps(res)
	if err := k.runPlanted(ctx, res, o); err != nil {
		return res, err
	}
	if res.Kind == gotest.Passed && len(res.NotCounted) == 0 && res.writtenCaught() && li.Chaos != nil && !o.NoChaos {
		checked := o
		checked.Probes = nil // the services answered the preflight of the visible tests a moment ago
		if err := k.runChaos(ctx, res, checked, ChaosOptions{}, onEvent); err != nil {
			return res, err
		}
	}
	res.Mistakes = matchMistakes(res)
	return res, nil
}

// Chaos runs lab n's chaos stage alone (TestChaos, seeded), as `checker chaos N --seed S` replays it.
func (k *Kit) Chaos(ctx context.Context, n int, o RunOptions, co ChaosOptions, onEvent func(gotest.Event)) (*RunResult, error) {
	li, err := k.Info(n)
	if err != nil {
		return nil, err
	}
	if li.Chaos == nil {
		return nil, fmt.Errorf("lab %d has no chaos stage", n)
	}
	res := &RunResult{Lab: li.Lab, WasLocked: !li.Unlocked, ChaosOnly: true}
	if err := k.checkSeals(res); err != nil {
		return nil, err
	}
	if err := k.runChaos(ctx, res, o, co, onEvent); err != nil {
		return res, err
	}
	res.Mistakes = matchMistakes(res)
	return res, nil
}

func (k *Kit) runChaos(ctx context.Context, res *RunResult, o RunOptions, co ChaosOptions, onEvent func(gotest.Event)) error {
	runs := co.Runs
	if runs <= 0 {
		runs = res.Lab.Chaos.Runs
	}
	opts := k.baseOptions(res.Lab, o)
	opts.Tests = []string{lab.ChaosTest}
	opts.Env = append(opts.Env, EnvChaos+"=1")
	if co.Seed != "" {
		opts.Env = append(opts.Env, EnvChaosSeed+"="+co.Seed)
	}
	if runs > 0 {
		opts.Env = append(opts.Env, EnvChaosRuns+"="+strconv.Itoa(runs))
	}
	rep, err := k.runGuarded(ctx, res, o, opts, onEvent)
	if err != nil || rep == nil {
		return err
	}
	res.Chaos = &ChaosResult{Report: rep, Kind: rep.Kind(), Seed: co.Seed, Runs: runs}
	if t, ok := rep.Test(lab.ChaosTest); (!ok || t.Status == gotest.Skip) && countsAsComplete(res.Chaos.Kind) {
		res.NotCounted = append(res.NotCounted, fmt.Sprintf("%s did not run, so the chaos stage says nothing", lab.ChaosTest))
	}
	k.noteInfra(res, rep)
	return nil
}

// checkSeals notes why a run cannot count when the lab's tests, its other non-edit files or shared/ differ from
// labs.sum (catalog's seal.Counts).
func (k *Kit) checkSeals(res *RunResult) error {
	ok, why, err := seal.Counts(k.Catalog, res.Lab)
	if err != nil {
		return fmt.Errorf("check the seals of lab %d: %w", res.Lab.Number, err)
	}
	if !ok {
		res.NotCounted = append(res.NotCounted, why...)
	}
	return nil
}

func (k *Kit) baseOptions(l lab.Lab, o RunOptions) gotest.Options {
	env := TestEnv(o.Endpoints, o.Checker)
	if o.Owner != "" {
		env = append(env, EnvOwner+"="+o.Owner)
	}
	return gotest.Options{Dir: k.Root, Package: "./" + l.Dir() + "/", LabDir: l.Dir(), Env: env, Timeout: o.Timeout,
		Quick: true, RunDir: k.RunDir(l.Number)}
}

// visibleOptions run exactly the sealed visible tests: gotest names them in an anchored -test.run and reports the
// ones that did not run.
func (k *Kit) visibleOptions(l lab.Lab, o RunOptions) gotest.Options {
	opts := k.baseOptions(l, o)
	opts.Tests = l.Visible()
	// Each test in a binary of its own, several at once: a lab's verdict takes about its slowest test, not the sum
	// (the tests are isolated from each other by their names and schemas, as thirty attendees' are).
	opts.Processes = gotest.DefaultProcesses
	opts.Took = k.lastTook(l.Number)
	return opts
}

// RunDir is the folder of lab n's last run: its full log and its events.
func (k *Kit) RunDir(n int) string { return k.path(fmt.Sprintf("%s/%02d", RunsDir, n)) }

// errPreflight cancels a run whose services failed the preflight.
var errPreflight = errors.New("a service failed the preflight")

// runGuarded runs the tests while the preflight checks the services. A failed preflight stops the run, unless it
// passed regardless: the result then has Infra and no report (nil, nil). A test's INFRA story is noted too.
func (k *Kit) runGuarded(ctx context.Context, res *RunResult, o RunOptions, opts gotest.Options, onEvent func(gotest.Event)) (*gotest.Report, error) {
	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	pre := make(chan []Infra, 1)
	if o.Probes != nil {
		go func() {
			found := Preflight(ctx, o.Endpoints, *o.Probes)
			if len(found) > 0 {
				cancel(errPreflight)
			}
			pre <- found
		}()
	} else {
		pre <- nil
	}
	rep, err := gotest.Run(runCtx, opts, onEvent)
	found := <-pre
	passedAnyway := err == nil && rep != nil && rep.Kind() == gotest.Passed
	if len(found) > 0 && ctx.Err() == nil && !passedAnyway {
		res.Infra = append(res.Infra, found...)
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("run lab %d: %w", res.Lab.Number, err)
	}
	k.noteInfra(res, rep)
	return rep, nil
}

// noteInfra turns a test's INFRA story into an Infra of the run: its sentence names the service, what happened
// and the fix (D6).
func (k *Kit) noteInfra(res *RunResult, rep *gotest.Report) {
	if rep.Infra == "" {
		return
	}
	line, _, _ := strings.Cut(rep.Infra, "\n")
	line = strings.TrimSpace(strings.TrimPrefix(line, string(story.Infra)+":"))
	res.Infra = append(res.Infra, Infra{Detail: line})
}

// countsAsComplete reports whether a run of this kind went to its end, so a test missing from it was not run on
// purpose; a build error, a panic, a hang or an exit stop the binary early, and that is the attendee's failure.
func countsAsComplete(kind gotest.Kind) bool {
	switch kind {
	case gotest.Passed, gotest.Failed, gotest.NoTests, gotest.NotRun:
		return true
	}
	return false
}

// judgeSteps sorts the visible tests into their steps, finds the first step that did not pass, and notes sealed
// tests that did not run.
func (k *Kit) judgeSteps(res *RunResult) {
	complete := countsAsComplete(res.Kind)
	for i, s := range res.Lab.Steps {
		sr := StepResult{Number: i + 1, Step: s, Passed: true}
		for _, name := range s.Tests() {
			t, ok := res.Report.Test(name)
			if !ok || t.Status == gotest.Skip || t.Status == gotest.Running {
				sr.NotRun = append(sr.NotRun, name)
				sr.Passed = false
				continue
			}
			sr.Tests = append(sr.Tests, t)
			if t.Status != gotest.Pass {
				sr.Passed = false
			}
		}
		if complete && len(sr.NotRun) > 0 {
			res.NotCounted = append(res.NotCounted, fmt.Sprintf("step %d's %s did not run (a sealed test must run for the lab to count)",
				sr.Number, strings.Join(sr.NotRun, ", ")))
		}
		if !sr.Passed && res.Current == 0 {
			res.Current = sr.Number
		}
		res.Steps = append(res.Steps, sr)
	}
}

// runPlanted runs, for each step where the attendee writes a test, that test against the kit's planted bug, once it
// has passed on the lab as shipped. A step whose test does not catch the bug (fail with its marker) is not passed.
func (k *Kit) runPlanted(ctx context.Context, res *RunResult, o RunOptions) error {
	for i := range res.Steps {
		sr := &res.Steps[i]
		w := sr.Step.Written
		if w == nil || len(res.Infra) > 0 || len(res.NotCounted) > 0 {
			continue
		}
		if t, ok := res.Report.Test(w.Test); !ok || t.Status != gotest.Pass {
			continue // it fails (or did not run) on the kit's service: that is what the step shows
		}
		if !k.plantedNow(res, i) {
			sr.PlantedLater, sr.Passed = true, false
			continue
		}
		opts, err := k.plantedOptions(res.Lab, *w, o)
		if err != nil {
			return err
		}
		checked := o
		checked.Probes = nil // the services answered the preflight of the visible tests a moment ago
		rep, err := k.runGuarded(ctx, res, checked, opts, nil)
		if err != nil || rep == nil {
			return err
		}
		sr.Planted = JudgePlanted(*w, rep)
		if !sr.Planted.Caught {
			sr.Passed = false
		}
	}
	res.Current = 0
	for _, sr := range res.Steps {
		if !sr.Passed {
			res.Current = sr.Number
			break
		}
	}
	return nil
}

// JudgePlanted says whether a written test caught its planted bug in rep: it ran and failed with w.Marker.
func JudgePlanted(w lab.Written, rep *gotest.Report) *PlantedResult {
	p := &PlantedResult{Written: w, Report: rep}
	if t, ok := rep.Test(w.Test); ok {
		p.Test = t
	}
	p.Caught = p.Test.Status == gotest.Fail && p.Test.Marker == w.Marker
	return p
}

// plantedNow reports whether the written step res.Steps[i] is run against its planted bug in this run: once every
// step before it passes, or as soon as the attendee has changed one of the step's files (they are writing the test
// now, whichever step they are on). Until then the step waits its turn like every later step, and the attendee's
// loop on an earlier step is spared a second build.
func (k *Kit) plantedNow(res *RunResult, i int) bool {
	if k.writing(res.Lab, res.Steps[i].Step) {
		return true
	}
	for _, sr := range res.Steps[:i] {
		if !sr.Passed {
			return false
		}
	}
	return true
}

// writing reports whether the attendee has changed any of a step's edit files from the shipped starter.
func (k *Kit) writing(l lab.Lab, s lab.Step) bool {
	for _, f := range s.Edit {
		if seal.Changed(k.Catalog, l, f) {
			return true
		}
	}
	return false
}

// prebuildPlanted starts building the test binaries of the lab's written steps against their planted bugs, for the
// steps whose files the attendee has changed (see plantedNow), while the visible tests build and run: runPlanted
// needs one as soon as the attendee's test passes, and building it only then would add a whole build to the wait
// for the verdict. runPlanted's own build then finds the binary up to date (it waits for this one on the binary's
// lock). A failed build here says nothing: runPlanted builds again and reports. The returned stop cancels what is
// still building and waits for it; call it when the run is over.
func (k *Kit) prebuildPlanted(ctx context.Context, l lab.Lab, o RunOptions) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, s := range l.Steps {
		if s.Written == nil || !k.writing(l, s) {
			continue // judged only once the steps before it pass: built then, if it comes to that
		}
		opts, err := k.plantedOptions(l, *s.Written, o)
		if err != nil {
			continue // runPlanted meets the same error and reports it
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, _ = gotest.Build(ctx, opts, nil)
		}()
	}
	return func() {
		cancel()
		wg.Wait()
	}
}

// PlantedSubdir is the folder, in a lab's run folder, of the runs against its planted bugs.
const PlantedSubdir = "planted"

// plantedOptions run exactly the written test with the planted bug's files in place of the lab's own (an overlay
// written to the lab's run folder).
func (k *Kit) plantedOptions(l lab.Lab, w lab.Written, o RunOptions) (gotest.Options, error) {
	dir := filepath.Join(k.RunDir(l.Number), PlantedSubdir)
	replace, err := PlantedOverlay(k.Catalog, l, w.Planted)
	if err != nil {
		return gotest.Options{}, err
	}
	data, err := json.Marshal(struct{ Replace map[string]string }{replace})
	if err != nil {
		return gotest.Options{}, fmt.Errorf("planted overlay: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return gotest.Options{}, fmt.Errorf("planted overlay: %w", err)
	}
	overlay := filepath.Join(dir, w.Planted+".json")
	// Written only when it changed: a build started by prebuildPlanted may be reading it.
	if old, err := os.ReadFile(overlay); err != nil || !bytes.Equal(old, data) {
		if err := os.WriteFile(overlay, data, 0o644); err != nil {
			return gotest.Options{}, fmt.Errorf("planted overlay: %w", err)
		}
	}
	opts := k.baseOptions(l, o)
	opts.Tests, opts.Overlay, opts.RunDir = []string{w.Test}, overlay, dir
	return opts, nil
}

// PlantedOverlay returns the `go test -overlay` replacements that put planted bug name in place: each .go file of
// <lab>/testdata/planted/<name>/ replaces the lab's file of the same name (absolute paths).
func PlantedOverlay(c *lab.Catalog, l lab.Lab, name string) (map[string]string, error) {
	src := c.Path(path.Join(l.Dir(), lab.PlantedDir, name))
	entries, err := os.ReadDir(src)
	if err != nil {
		return nil, fmt.Errorf("planted bug %s of lab %d: %w", name, l.Number, err)
	}
	replace := map[string]string{}
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".go") {
			replace[filepath.Join(c.Path(l.Dir()), e.Name())] = filepath.Join(src, e.Name())
		}
	}
	if len(replace) == 0 {
		return nil, fmt.Errorf("planted bug %s of lab %d has no .go file in %s/%s/%s", name, l.Number, l.Dir(), lab.PlantedDir, name)
	}
	return replace, nil
}

// maxMistakes bounds how many named mistakes one run mentions: the first that fit say enough.
const maxMistakes = 3

// matchMistakes returns the lab's named mistakes (at most maxMistakes, in lab.yaml's order) that this run's failures
// point at. A mistake is named only for the step being worked on (or for the chaos stage, which runs once every step
// passes), when its caught test failed with its marker and, if it has one, its piece of headline. A failure the
// untouched starter shows too (one of the step's failing tests, with no headline to tell them apart) is named only
// once the attendee has visibly moved on: another failing test of that step passes. Mistakes that share one failure
// are all returned: the report says the failure is one of them.
func matchMistakes(res *RunResult) []lab.Mistake {
	failed := map[string]gotest.Result{}
	for _, rep := range []*gotest.Report{res.Report, chaosReport(res.Chaos)} {
		if rep == nil {
			continue
		}
		for _, t := range rep.Failed() {
			failed[t.Name] = t
		}
	}
	var out []lab.Mistake
	for _, m := range res.Lab.Mistakes {
		t, ok := failed[m.Caught.Test]
		if !ok || t.Marker != m.Caught.Marker || !strings.Contains(t.Headline, m.Caught.Headline) || len(out) == maxMistakes {
			continue
		}
		if slices.ContainsFunc(out, func(x lab.Mistake) bool { return x.Name == m.Name }) {
			continue
		}
		step := res.Lab.StepOf(m.Caught.Test) // 0 for TestChaos
		if step != 0 && step != res.Current {
			continue
		}
		if step != 0 && m.Caught.Headline == "" && starterFails(res.Lab, m.Caught.Test) && !movedOn(res, step, m.Caught.Test) {
			continue
		}
		out = append(out, m)
	}
	return out
}

// starterFails reports whether test is one of the lab's failing tests: the shipped starter fails it.
func starterFails(l lab.Lab, test string) bool {
	_, failing := l.FailingMarker(test)
	return failing
}

// movedOn reports whether, in step, a failing test other than test now passes.
func movedOn(res *RunResult, step int, test string) bool {
	for _, s := range res.Steps {
		if s.Number != step {
			continue
		}
		for _, t := range s.Tests {
			if t.Name != test && t.Status == gotest.Pass && starterFails(res.Lab, t.Name) {
				return true
			}
		}
	}
	return false
}

func chaosReport(c *ChaosResult) *gotest.Report {
	if c == nil {
		return nil
	}
	return c.Report
}
