package verify

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"msglabs/checker/gotest"
	"msglabs/checker/lab"
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
	Seconds  float64        `json:"seconds"`
	Reason   string         `json:"reason,omitempty"` // why the lab is not verified: every problem, "; " between
	Error    string         `json:"error,omitempty"`  // the lab could not be verified at all (missing blob, go failed)
	Infra    bool           `json:"infra,omitempty"`  // RabbitMQ or PostgreSQL failed: says nothing about the lab
}

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

// verifier verifies one lab. Its fields are used by the lab's goroutine, except where mu says otherwise.
type verifier struct {
	c   *lab.Catalog
	l   lab.Lab
	o   Options
	res *Result
	ov  *overlays

	mu       sync.Mutex // guards problems and res.Infra, which the chaos goroutine writes too
	problems []string
}

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

	if ok, err := v.starter(ctx); !ok || err != nil {
		return err
	}
	for k := 2; k <= len(v.l.Steps); k++ {
		if ok, err := v.step(ctx, k); !ok || err != nil {
			return err
		}
	}
	chaosCtx, cancelChaos := context.WithCancel(ctx) // an early return stops the chaos run
	defer cancelChaos()
	chaos, err := v.startChaos(chaosCtx)
	if err != nil {
		return err
	}
	defer chaos.wait()
	for _, m := range v.l.Mistakes {
		if ok, err := v.mistake(ctx, m); !ok || err != nil {
			return err
		}
	}
	if _, err := v.solution(ctx); err != nil {
		return err
	}
	return chaos.wait()
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

// problem records one reason the lab is not verified.
func (v *verifier) problem(p string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.problems = append(v.problems, p)
}

// infra records an INFRA run: the lab's result says nothing about the lab, and verify stops.
func (v *verifier) infra(rep *gotest.Report) bool {
	if rep.Kind() != gotest.InfraError {
		return false
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if !v.res.Infra {
		v.res.Infra = true
		v.problems = []string{firstLine(rep.Infra)}
	}
	return true
}

// starter is check (a), which is also check (b) for step 1.
func (v *verifier) starter(ctx context.Context) (bool, error) {
	overlay, err := v.ov.starter()
	if err != nil {
		return false, err
	}
	rep, err := v.buildAndRun(ctx, "starter", v.base(overlay, nil), v.l.Visible())
	if err != nil || v.infra(rep) {
		return false, err
	}
	v.res.Starter = Summarize(rep)
	if why := JudgeStarter(v.l, rep); why != "" {
		v.problem(why)
	}
	return true, nil
}

// step is check (b) for step k ≥ 2.
func (v *verifier) step(ctx context.Context, k int) (bool, error) {
	overlay, err := v.ov.stateAfter(k - 1)
	if err != nil {
		return false, err
	}
	rep, err := v.buildAndRun(ctx, "step-"+strconv.Itoa(k), v.base(overlay, solutionTags), v.l.Visible())
	if err != nil || v.infra(rep) {
		return false, err
	}
	check := StepCheck{Step: k, Title: v.l.Steps[k-1].Title, Problem: JudgeStep(v.l, k, rep)}
	check.OK = check.Problem == ""
	v.res.Steps = append(v.res.Steps, check)
	if !check.OK {
		v.problem(check.Problem)
	}
	return true, nil
}

// solution is check (c): the visible tests, with -race, Count times.
func (v *verifier) solution(ctx context.Context) (bool, error) {
	overlay, err := v.ov.solution()
	if err != nil {
		return false, err
	}
	go1 := v.base(overlay, solutionTags)
	go1.Race, go1.Count, go1.TestTimeout = true, v.res.Solution.Count, raceWatchdog
	go1.Timeout = v.timeout() * time.Duration(go1.Count)
	rep, err := v.buildAndRun(ctx, "solution", go1, v.l.Visible())
	if err != nil || v.infra(rep) {
		return false, err
	}
	why := JudgeSolution(rep)
	v.res.Solution.Passed = why == ""
	if why != "" {
		v.problem(why)
	}
	return true, nil
}

// mistake is check (e) for one mistake: its fixture over the solution fails its declared test with its marker.
func (v *verifier) mistake(ctx context.Context, m lab.Mistake) (bool, error) {
	overlay, err := v.ov.mistake(ctx, m)
	if err != nil {
		return false, err
	}
	o := v.base(overlay, solutionTags)
	if m.Caught.Test == lab.ChaosTest {
		o = v.chaosOptions(o)
	}
	rep, err := v.buildAndRun(ctx, "mistake:"+m.Name, o, []string{m.Caught.Test})
	if err != nil || v.infra(rep) {
		return false, err
	}
	check := MistakeCheck{Name: m.Name, Step: m.Step, Caught: m.Caught, Problem: JudgeMistake(m, rep)}
	check.OK = check.Problem == ""
	v.res.Mistakes = append(v.res.Mistakes, check)
	if !check.OK {
		v.problem(check.Problem)
	}
	return true, nil
}

// chaosRun is check (d), running beside the mistakes and the solution run: the chaos stage is one long test that
// mostly waits on the broker.
type chaosRun struct {
	done chan struct{}
	err  error
	once sync.Once
}

// wait waits for the chaos run; it returns the run's error the first time.
func (r *chaosRun) wait() error {
	if r == nil {
		return nil
	}
	<-r.done
	var err error
	r.once.Do(func() { err = r.err })
	return err
}

// startChaos builds the solution without the race detector and starts TestChaos, when the lab has a chaos stage.
func (v *verifier) startChaos(ctx context.Context) (*chaosRun, error) {
	if v.l.Chaos == nil {
		return nil, nil
	}
	v.res.Chaos = &ChaosCheck{Runs: v.l.Chaos.Runs, Starter: starterAlreadyFails}
	overlay, err := v.ov.solution()
	if err != nil {
		return nil, err
	}
	o := v.chaosOptions(v.base(overlay, solutionTags))
	o.Binary = filepath.Join(v.ov.tmp, "chaos.test")
	bin, rep, err := gotest.Build(ctx, o, v.on("chaos"))
	if err != nil {
		return nil, fmt.Errorf("build the chaos stage: %w", err)
	}
	check := v.res.Chaos
	if rep != nil {
		check.Problem = JudgeChaos(rep)
		v.problem(check.Problem)
		return nil, nil
	}
	run := &chaosRun{done: make(chan struct{})}
	go func() {
		defer close(run.done)
		o.Tests = []string{lab.ChaosTest}
		rep, err := gotest.Exec(ctx, bin, o, v.on("chaos"))
		if err != nil {
			run.err = fmt.Errorf("chaos run: %w", err)
			return
		}
		if v.infra(rep) {
			return
		}
		check.Problem = JudgeChaos(rep)
		check.Passed = check.Problem == ""
		if !check.Passed {
			v.problem(check.Problem)
		}
	}()
	return run, nil
}

// solutionTags build solution files (and mixes of them with the starter: the starter's files carry no tag).
var solutionTags = []string{"solution"}

// base returns the run options shared by every variant of the lab.
func (v *verifier) base(overlay string, tags []string) gotest.Options {
	return gotest.Options{Dir: v.c.Root, Package: "./" + v.l.Dir() + "/", LabDir: v.l.Dir(), Env: v.o.Env,
		Timeout: v.timeout(), Overlay: overlay, Tags: tags, Quick: true,
		Binary: strings.TrimSuffix(overlay, ".json") + ".test"}
}

func (v *verifier) chaosOptions(o gotest.Options) gotest.Options {
	runs := 0
	if v.l.Chaos != nil {
		runs = v.l.Chaos.Runs
	}
	o.Env = append(append([]string{}, o.Env...), envChaos+"=1")
	if runs > 0 {
		o.Env = append(o.Env, envChaosRuns+"="+strconv.Itoa(runs))
	}
	o.TestTimeout = chaosWatchdog
	return o
}

func (v *verifier) timeout() time.Duration {
	if v.o.Timeout > 0 {
		return v.o.Timeout
	}
	return gotest.DefaultTimeout
}

// buildAndRun builds one variant and runs the named tests in it. A compile error comes back as the report.
func (v *verifier) buildAndRun(ctx context.Context, phase string, o gotest.Options, tests []string) (*gotest.Report, error) {
	on := v.on(phase)
	bin, rep, err := gotest.Build(ctx, o, on)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", phase, err)
	}
	if rep != nil {
		return rep, nil
	}
	o.Tests = tests
	rep, err = gotest.Exec(ctx, bin, o, on)
	if err != nil {
		return nil, fmt.Errorf("%s run: %w", phase, err)
	}
	return rep, nil
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
