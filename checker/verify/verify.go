package verify

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"msglabs/checker/gotest"
	"msglabs/checker/lab"
	"msglabs/checker/readme"
	"msglabs/checker/seal"
)

// Options tune a verification.
type Options struct {
	Count   int           // -count of the solution run; 0 means 1
	Env     []string      // MSGLABS_* variables for the tests
	Timeout time.Duration // per-run -test.timeout; the solution run gets Count times as much
	Strict  bool          // CI: the lab's files must equal their seal exactly
	Workers int           // labs verified at once; 0 means DefaultWorkers
	// OnEvent, when set, sees the test events of every run; phase is "starter", "step-K", "solution", "chaos" or
	// "mistake:<name>". It is called from the goroutine verifying the lab, so from several goroutines at once.
	OnEvent func(l lab.Lab, phase string, ev gotest.Event)
}

// DefaultWorkers is how many labs are verified at once: the machines the kit is made for have two cores, and a
// lab's builds keep one busy.
const DefaultWorkers = 2

// Watchdogs of verify's runs (gotest.Options.TestTimeout): the race detector slows a test down several times, and
// the chaos stage is one long test.
const (
	raceWatchdog  = 4 * gotest.DefaultTestTimeout
	chaosWatchdog = 6 * gotest.DefaultTestTimeout
)

// Chaos environment (D4): the checker turns the stage on and says how many schedules to run; the seed is the
// lab's own default.
const (
	envChaos     = "MSGLABS_CHAOS"
	envChaosRuns = "MSGLABS_CHAOS_RUNS"
)

// Result is the verification of one lab.
type Result struct {
	Number   int            `json:"number"`
	Slug     string         `json:"slug"`
	Verified bool           `json:"verified"`
	Starter  Starter        `json:"starter"`
	Steps    []StepCheck    `json:"steps,omitempty"` // step 2 onwards: step 1's state is the starter
	Solution Solution       `json:"solution"`
	Chaos    *ChaosCheck    `json:"chaos,omitempty"` // nil when the lab has no chaos stage
	Mistakes []MistakeCheck `json:"mistakes,omitempty"`
	Planted  []PlantedCheck `json:"planted,omitempty"` // the steps in which the attendee writes a test
	// Headlines is how many failure headlines of the lab's README the runs of the starter and of the steps bore out.
	Headlines int     `json:"headlines,omitempty"`
	Seconds   float64 `json:"seconds"`
	Reason    string  `json:"reason,omitempty"` // why the lab is not verified: every problem, "; " between
	Error     string  `json:"error,omitempty"`  // the lab could not be verified at all (missing blob, go failed)
	Infra     bool    `json:"infra,omitempty"`  // RabbitMQ or PostgreSQL failed: says nothing about the lab
	// Logs is the folder, relative to the kit root, with the full output of each run: <phase>/last.log.
	Logs string `json:"logs,omitempty"`
}

// LogsDir holds verify's run logs, one folder per lab, relative to the kit root.
const LogsDir = ".msglabs/verify"

// StepCheck is check (b) for one step: the state after the step before it fails as the step declares.
type StepCheck struct {
	Step    int    `json:"step"`
	Title   string `json:"title"`
	OK      bool   `json:"ok"`
	Problem string `json:"problem,omitempty"`
}

// Solution is what the solution run showed.
type Solution struct {
	Passed bool `json:"passed"`
	Count  int  `json:"count"`
}

// ChaosCheck is the chaos stage: the solution passes it; the starter already fails its visible tests.
type ChaosCheck struct {
	Runs    int    `json:"runs"`
	Passed  bool   `json:"passed"`
	Starter string `json:"starter"` // why the starter needs no chaos run
	Problem string `json:"problem,omitempty"`
}

// MistakeCheck is one mistake fixture applied over the solution.
type MistakeCheck struct {
	Name    string      `json:"name"`
	Step    int         `json:"step"`
	Caught  lab.Failing `json:"caught"`
	OK      bool        `json:"ok"`
	Problem string      `json:"problem,omitempty"`
}

// PlantedCheck is a step in which the attendee writes a test: the reference test (the solution of their test file)
// fails with the step's marker against the planted bug, and the test as shipped does not (it passes there). That
// the reference passes on the kit's code is the solution run's job: the written test is a visible test.
type PlantedCheck struct {
	Step    int         `json:"step"`
	Name    string      `json:"name"` // the planted bug
	Caught  lab.Failing `json:"caught"`
	OK      bool        `json:"ok"`
	Problem string      `json:"problem,omitempty"`
}

// starterAlreadyFails is ChaosCheck.Starter: the chaos stage runs after the visible tests pass, and the starter's
// do not.
const starterAlreadyFails = "already failing its visible tests"

// Lab verifies one lab; see the package comment.
func Lab(ctx context.Context, c *lab.Catalog, l lab.Lab, o Options) Result {
	start := time.Now()
	res := Result{Number: l.Number, Slug: l.Slug, Starter: Starter{FailedTests: []string{}, Markers: map[string]string{}},
		Solution: Solution{Count: max(o.Count, 1)}}
	v := &verifier{c: c, l: l, o: o, res: &res}
	if err := v.run(ctx); err != nil {
		res.Error = err.Error()
	}
	res.Reason = strings.Join(v.problems, "; ")
	res.Verified = res.Error == "" && res.Reason == "" && !res.Infra
	res.Seconds = roundSeconds(time.Since(start))
	return res
}

// runsPerLab is how many of a lab's test binaries run at once: the chaos stage, a long test that mostly waits on
// the broker, beside the others one at a time, while the lab's next variant builds.
const runsPerLab = 2

// verifier verifies one lab, from one goroutine (the runs it starts only fill their own outcome).
type verifier struct {
	c        *lab.Catalog
	l        lab.Lab
	o        Options
	res      *Result
	ov       *overlays
	problems []string
	printed  map[string]string // test → the headline it printed before its step ("MARKER: headline")
}

// check is one variant of the lab: how to put it in place, how to run it, and how to judge what it did.
type check struct {
	phase   string
	overlay func() (string, error)
	options func(overlay string) gotest.Options
	tests   []string
	judge   func(rep *gotest.Report)
}

// outcome is what one check's build and run gave.
type outcome struct {
	rep *gotest.Report
	err error
}

// run builds the lab's variants one after another and runs each as soon as it is built, runsPerLab at a time; then
// it judges them in the order of the checks. An INFRA run stops the rest: it says nothing about the lab.
func (v *verifier) run(ctx context.Context) error {
	if err := v.sealed(ctx); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "msglabs-verify-"+v.l.Slug+"-")
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	defer os.RemoveAll(tmp)
	shipped, err := StarterOverlay(ctx, v.c, v.l, tmp)
	if err != nil {
		return err
	}
	v.ov = &overlays{c: v.c, l: v.l, tmp: tmp, shipped: shipped}
	v.res.Logs = LogsDir + "/" + v.l.Slug
	if err := os.RemoveAll(v.c.Path(v.res.Logs)); err != nil {
		return fmt.Errorf("verify logs: %w", err)
	}
	checks := v.plan(ctx)
	outcomes, buildErr := v.buildAndRun(ctx, checks)
	for _, out := range outcomes {
		if out.rep != nil && out.rep.Kind() == gotest.InfraError {
			v.res.Infra = true
			v.problems = []string{firstLine(out.rep.Infra)}
			return nil
		}
	}
	if buildErr != nil {
		return buildErr
	}
	for i, c := range checks {
		if err := outcomes[i].err; err != nil {
			return err
		}
		c.judge(outcomes[i].rep)
	}
	return v.headlines()
}

// printedBefore keeps the headlines that step k's failing tests printed in rep, the run of the state before step k.
func (v *verifier) printedBefore(k int, rep *gotest.Report) {
	if v.printed == nil {
		v.printed = map[string]string{}
	}
	var tests []string
	for _, f := range v.l.Steps[k-1].Failing {
		tests = append(tests, f.Test)
	}
	maps.Copy(v.printed, Headlines(rep, tests))
}

// headlines is check (g): every failure headline the lab's README shows is what the test printed before its step.
func (v *verifier) headlines() error {
	rel := path.Join(v.l.Dir(), "README.md")
	data, err := os.ReadFile(v.c.Path(rel))
	if errors.Is(err, fs.ErrNotExist) {
		return nil // no README, no headlines: dev check's readme rule asks for one
	}
	if err != nil {
		return fmt.Errorf("readme: %w", err)
	}
	failing := func(test string) bool { _, ok := v.l.FailingMarker(test); return ok }
	stale := readme.StaleOutputs(data, v.printed, failing)
	for _, o := range stale {
		if o.Real == "" {
			continue // the starter or step check already says this test did not fail as declared
		}
		v.problem(fmt.Sprintf("%s:%d: %s's headline is not what the test printed (README %q, printed %q); fix: go run ./checker dev readme",
			rel, o.Line, o.Test, o.Headline, o.Real))
	}
	for _, o := range readme.Outputs(data) {
		if o.Headline != "" {
			v.res.Headlines++
		}
	}
	v.res.Headlines -= len(stale)
	return nil
}

// Headlines returns what each of tests printed as its failure headline in rep, as a README shows it
// ("MARKER: headline"); a test that passed, or failed without a marker, is left out.
func Headlines(rep *gotest.Report, tests []string) map[string]string {
	out := map[string]string{}
	for _, r := range rep.Failed() {
		if r.Top() && r.Marker != "" && r.Marker != gotest.Infra && slices.Contains(tests, r.Name) {
			out[r.Name] = readme.HeadlineOf(r.Marker, r.Headline)
		}
	}
	return out
}

// buildAndRun builds every check's variant in order (the longest run first, so it overlaps the other builds) and
// runs it. A compile error is the check's report; the error is what stopped the builds (a missing file, go failing).
func (v *verifier) buildAndRun(ctx context.Context, checks []check) ([]outcome, error) {
	ctx, cancel := context.WithCancel(ctx)
	outcomes := make([]outcome, len(checks))
	slots := make(chan struct{}, runsPerLab)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel() // an early return stops the runs under way, then waits for them
	for _, i := range buildOrder(checks) {
		c := checks[i]
		overlay, err := c.overlay()
		if err != nil {
			return outcomes, err
		}
		o := c.options(overlay)
		o.RunDir = v.c.Path(v.res.Logs + "/" + strings.ReplaceAll(c.phase, ":", "-"))
		on := v.on(c.phase)
		bin, rep, err := gotest.Build(ctx, o, on)
		if err != nil {
			return outcomes, wrap(c.phase, err)
		}
		if rep != nil {
			outcomes[i].rep = rep
			continue
		}
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return outcomes, wrap(c.phase, ctx.Err())
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			o.Tests = c.tests
			rep, err := gotest.Exec(ctx, bin, o, on)
			outcomes[i] = outcome{rep: rep, err: wrap(c.phase+" run", err)}
			if err == nil && rep.Kind() == gotest.InfraError {
				cancel() // every other run would say the same
			}
		}()
	}
	wg.Wait()
	return outcomes, nil
}

// buildOrder puts the chaos stage first: its run is the longest.
func buildOrder(checks []check) []int {
	var first, rest []int
	for i, c := range checks {
		if c.phase == phaseChaos {
			first = append(first, i)
		} else {
			rest = append(rest, i)
		}
	}
	return append(first, rest...)
}

func wrap(phase string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", phase, err)
}

// Phases of a lab's verification, as OnEvent sees them.
const (
	phaseStarter  = "starter"
	phaseSolution = "solution"
	phaseChaos    = "chaos"
)

// plan lists the lab's checks in the order they are judged: (a) the starter, (b) each later step's state before
// it, (c) the solution with -race, (d) the chaos stage, (e) each mistake, (f) each written step's planted bug. Check
// (g), the README's headlines, is judged after them from what (a) and (b) printed.
func (v *verifier) plan(ctx context.Context) []check {
	l := v.l
	checks := []check{{
		phase: phaseStarter, overlay: v.ov.starter, tests: l.Visible(),
		options: func(ov string) gotest.Options { return v.base(ov, nil) },
		judge: func(rep *gotest.Report) {
			v.res.Starter = Summarize(rep)
			v.problem(JudgeStarter(l, rep))
			v.printedBefore(1, rep)
		},
	}}
	for k := 2; k <= len(l.Steps); k++ {
		checks = append(checks, check{
			phase: "step-" + strconv.Itoa(k), overlay: func() (string, error) { return v.ov.stateAfter(k - 1) },
			tests: l.Visible(), options: func(ov string) gotest.Options { return v.base(ov, solutionTags) },
			judge: func(rep *gotest.Report) {
				c := StepCheck{Step: k, Title: l.Steps[k-1].Title, Problem: JudgeStep(l, k, rep)}
				c.OK = c.Problem == ""
				v.res.Steps = append(v.res.Steps, c)
				v.printedBefore(k, rep)
				v.problem(c.Problem)
			},
		})
	}
	checks = append(checks, check{
		phase: phaseSolution, overlay: v.ov.solution, tests: l.Visible(),
		options: func(ov string) gotest.Options {
			o := v.base(ov, solutionTags)
			o.Race, o.Count, o.TestTimeout = true, v.res.Solution.Count, raceWatchdog
			o.Timeout = v.timeout() * time.Duration(o.Count)
			o.Binary = strings.TrimSuffix(ov, ".json") + "-race.test"
			return o
		},
		judge: func(rep *gotest.Report) {
			why := JudgeSolution(rep)
			v.res.Solution.Passed = why == ""
			v.problem(why)
		},
	})
	if l.Chaos != nil {
		v.res.Chaos = &ChaosCheck{Runs: l.Chaos.Runs, Starter: starterAlreadyFails}
		checks = append(checks, check{
			phase: phaseChaos, overlay: v.ov.solution, tests: []string{lab.ChaosTest},
			options: func(ov string) gotest.Options { return v.chaosOptions(v.base(ov, solutionTags)) },
			judge: func(rep *gotest.Report) {
				v.res.Chaos.Problem = JudgeChaos(rep)
				v.res.Chaos.Passed = v.res.Chaos.Problem == ""
				v.problem(v.res.Chaos.Problem)
			},
		})
	}
	checks = append(checks, v.plantedChecks(ctx)...)
	for _, m := range l.Mistakes {
		checks = append(checks, check{
			phase: "mistake:" + m.Name, overlay: func() (string, error) { return v.ov.mistake(ctx, m) },
			tests: []string{m.Caught.Test},
			options: func(ov string) gotest.Options {
				o := v.base(ov, solutionTags)
				if m.Caught.Test == lab.ChaosTest {
					o = v.chaosOptions(o)
				}
				return o
			},
			judge: func(rep *gotest.Report) {
				c := MistakeCheck{Name: m.Name, Step: m.Step, Caught: m.Caught, Problem: JudgeMistake(m, rep)}
				c.OK = c.Problem == ""
				v.res.Mistakes = append(v.res.Mistakes, c)
				v.problem(c.Problem)
			},
		})
	}
	return checks
}

// plantedChecks are (f), for each step K in which the attendee writes a test: against the planted bug, the reference
// test (the final solution) fails with the step's marker, and the state after step K-1 (the test as shipped) passes.
// Both are judged into one PlantedCheck.
func (v *verifier) plantedChecks(ctx context.Context) []check {
	var checks []check
	for k := 1; k <= len(v.l.Steps); k++ {
		w := v.l.Steps[k-1].Written
		if w == nil {
			continue
		}
		pc := &PlantedCheck{Step: k, Name: w.Planted, Caught: lab.Failing{Test: w.Test, Marker: w.Marker}, OK: true}
		judge := func(problem string) {
			if problem != "" {
				pc.OK = false
				pc.Problem = strings.TrimPrefix(pc.Problem+"; "+problem, "; ")
				v.problem(problem)
			}
		}
		opts := func(ov string) gotest.Options { return v.base(ov, solutionTags) }
		checks = append(checks,
			check{phase: "planted:" + w.Planted, tests: []string{w.Test}, options: opts,
				overlay: func() (string, error) { return v.ov.planted(ctx, len(v.l.Steps), w.Planted) },
				judge:   func(rep *gotest.Report) { judge(JudgePlanted(*w, rep)) }},
			check{phase: "planted-before:" + w.Planted, tests: []string{w.Test}, options: opts,
				overlay: func() (string, error) { return v.ov.planted(ctx, k-1, w.Planted) },
				judge: func(rep *gotest.Report) {
					judge(JudgePlantedBefore(*w, rep))
					v.res.Planted = append(v.res.Planted, *pc)
				}},
		)
	}
	return checks
}

// sealed checks that the lab can be judged from its seal.
func (v *verifier) sealed(ctx context.Context) error {
	l := v.l
	if len(l.Sealed.Tests) == 0 || len(l.Sealed.Starter) == 0 {
		return fmt.Errorf("%s is not sealed; fix: %s", l.Slug, seal.Fix)
	}
	for _, f := range l.Edit {
		if _, ok := l.Sealed.Starter[f]; !ok {
			return fmt.Errorf("%s/%s is not sealed; fix: %s", l.Dir(), f, seal.Fix)
		}
	}
	if !v.o.Strict {
		return nil
	}
	stale, err := seal.CheckLab(ctx, v.c, l, true)
	if err != nil {
		return err
	}
	if len(stale) > 0 {
		return fmt.Errorf("seal is stale (%s); fix: %s", stale[0], seal.Fix)
	}
	return nil
}

// problem records one reason the lab is not verified; "" is none.
func (v *verifier) problem(p string) {
	if p != "" {
		v.problems = append(v.problems, p)
	}
}

// solutionTags build solution files (and mixes of them with the starter: the starter's files carry no tag).
var solutionTags = []string{"solution"}

// base returns the run options shared by every variant of the lab; each variant's binary sits beside its overlay.
func (v *verifier) base(overlay string, tags []string) gotest.Options {
	return gotest.Options{Dir: v.c.Root, Package: "./" + v.l.Dir() + "/", LabDir: v.l.Dir(), Env: v.o.Env,
		Timeout: v.timeout(), Overlay: overlay, Tags: tags, Quick: true,
		Binary: strings.TrimSuffix(overlay, ".json") + ".test"}
}

func (v *verifier) chaosOptions(o gotest.Options) gotest.Options {
	o.Env = append(append([]string{}, o.Env...), envChaos+"=1")
	if v.l.Chaos != nil && v.l.Chaos.Runs > 0 {
		o.Env = append(o.Env, envChaosRuns+"="+strconv.Itoa(v.l.Chaos.Runs))
	}
	o.TestTimeout = chaosWatchdog
	o.Binary = strings.TrimSuffix(o.Binary, ".test") + "-chaos.test"
	return o
}

func (v *verifier) timeout() time.Duration {
	if v.o.Timeout > 0 {
		return v.o.Timeout
	}
	return gotest.DefaultTimeout
}

func (v *verifier) on(phase string) func(gotest.Event) {
	if v.o.OnEvent == nil {
		return nil
	}
	return func(ev gotest.Event) { v.o.OnEvent(v.l, phase, ev) }
}

// Summary is the whole verification.
type Summary struct {
	Verified bool     `json:"verified"`
	Labs     []Result `json:"labs"`
	Problems []string `json:"problems,omitempty"` // lab.yaml problems of labs that could not be verified at all
	Error    string   `json:"error,omitempty"`
}

// Infra reports whether any lab could not reach its services.
func (s Summary) Infra() bool {
	for _, r := range s.Labs {
		if r.Infra {
			return true
		}
	}
	return false
}

// All verifies the labs, o.Workers at a time (their tests share the broker, each under its own names), and calls
// onLab with each result in the order of labs, from the calling goroutine. After an INFRA result no further lab is
// started and none after it is reported, since every later lab would fail the same way; ctx stops it all.
func All(ctx context.Context, c *lab.Catalog, labs []lab.Lab, o Options, onLab func(Result)) Summary {
	sum := Summary{Verified: len(labs) > 0, Labs: []Result{}}
	if len(labs) == 0 {
		sum.Error = "no labs to verify"
		return sum
	}
	workers := o.Workers
	if workers <= 0 {
		workers = DefaultWorkers
	}
	// results[i] gets lab i's result, or is closed when lab i was never started (INFRA, or ctx).
	results := make([]chan Result, len(labs))
	for i := range results {
		results[i] = make(chan Result, 1)
	}
	// Each lab runs under its own context: an INFRA result stops the labs after it (their results are never
	// reported), not those before it.
	ctxs, cancels := make([]context.Context, len(labs)), make([]context.CancelFunc, len(labs))
	for i := range labs {
		ctxs[i], cancels[i] = context.WithCancel(ctx)
	}
	defer func() {
		for _, cancel := range cancels {
			cancel()
		}
	}()
	var stop sync.Once
	stopped := make(chan struct{}) // closed at the first INFRA result
	jobs := make(chan int)
	go feed(ctx, len(labs), jobs, stopped, results)
	var wg sync.WaitGroup
	for range min(workers, len(labs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				r := Lab(ctxs[i], c, labs[i], o)
				if r.Infra {
					stop.Do(func() { close(stopped) })
					for _, cancel := range cancels[i+1:] {
						cancel()
					}
				}
				results[i] <- r
			}
		}()
	}
	defer wg.Wait()
	for i := range labs {
		r, ok := <-results[i]
		if err := ctx.Err(); err != nil {
			sum.Verified = false
			sum.Error = fmt.Errorf("verify interrupted: %w", err).Error()
			return sum
		}
		if !ok {
			break
		}
		sum.Labs = append(sum.Labs, r)
		sum.Verified = sum.Verified && r.Verified
		if onLab != nil {
			onLab(r)
		}
		if r.Infra {
			break
		}
	}
	return sum
}

// feed hands out the lab indexes 0..n-1 in order until stopped or ctx is done, then closes jobs and the results of
// the labs it did not hand out.
func feed(ctx context.Context, n int, jobs chan<- int, stopped <-chan struct{}, results []chan Result) {
	i := 0
	defer func() {
		close(jobs)
		for ; i < n; i++ {
			close(results[i])
		}
	}()
	for ; i < n; i++ {
		select {
		case <-stopped:
			return
		case <-ctx.Done():
			return
		default:
		}
		select {
		case jobs <- i:
		case <-stopped:
			return
		case <-ctx.Done():
			return
		}
	}
}

func roundSeconds(d time.Duration) float64 {
	return float64(d.Round(100*time.Millisecond)) / float64(time.Second)
}
