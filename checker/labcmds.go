package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"msglabs/checker/diagram"
	"msglabs/checker/gotest"
	"msglabs/checker/kit"
	"msglabs/checker/lab"
	"msglabs/checker/progress"
	"msglabs/checker/report"
)

func init() {
	commands["chaos"] = (*app).cmdChaos
	commands["catch-up"] = (*app).cmdCatchUp
	commands["share"] = (*app).cmdShare
	commands["diagram"] = (*app).cmdDiagram
}

// checkerCmd is the checker as the attendee types it from the folder they are in: bin/checker at the kit root,
// ../../bin/checker in a lab folder.
func (a *app) checkerCmd(root string) string {
	rel, err := filepath.Rel(a.dir, root)
	if err != nil || rel == "." {
		return "bin/checker"
	}
	return filepath.ToSlash(filepath.Join(rel, "bin", "checker"))
}

func (a *app) reportOptions(k *kit.Kit) report.Options {
	return report.Options{Checker: a.checkerCmd(k.Root), Path: a.relPath}
}

// relPath shows a file as the attendee reaches it from the folder they are in.
func (a *app) relPath(abs string) string {
	rel, err := filepath.Rel(a.dir, abs)
	if err != nil {
		return abs
	}
	return filepath.ToSlash(rel)
}

func (a *app) print(lines []report.Line) { fmt.Fprint(a.stdout, report.Plain(lines)) }

func (a *app) cmdList(_ context.Context, args []string) int {
	fs := a.flags("list")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parse(fs, args)
	if err != nil {
		return usageErr(err)
	}
	if len(pos) > 0 {
		fmt.Fprintln(a.stderr, "checker list: takes no arguments")
		return exitEnv
	}
	k, ok := a.open()
	if !ok {
		return exitEnv
	}
	labs := k.List()
	if *asJSON {
		return a.printJSON(map[string]any{"instructor": k.Instructor, "labs": listRows(labs)})
	}
	if len(labs) == 0 {
		fmt.Fprintln(a.stdout, "no labs in this kit yet")
		return exitOK
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  #\tlab\tstatus\tsteps\tsolution")
	for _, l := range labs {
		sol := "locked"
		if l.SolutionUnlocked {
			sol = "unlocked"
		}
		status := string(l.Status)
		if l.CaughtUp {
			status += " (caught up)"
		}
		fmt.Fprintf(tw, "%3d\t%s\t%s %s\t%s\t%s\n", l.Number, l.Title, statusIcon(l.Status), status, stepsCell(l), sol)
	}
	tw.Flush()
	if k.Instructor {
		fmt.Fprintln(a.stdout, "(instructor mode: everything is unlocked)")
	}
	return exitOK
}

// stepsCell is "2/3" steps passed by the last run.
func stepsCell(l kit.LabInfo) string {
	passed := 0
	for _, s := range l.StepInfos {
		if s.Status == kit.StepPassed {
			passed++
		}
	}
	return fmt.Sprintf("%d/%d", passed, len(l.StepInfos))
}

// listRow is one lab in `checker list --json`.
type listRow struct {
	Number           int            `json:"number"`
	Slug             string         `json:"slug"`
	Title            string         `json:"title"`
	Failure          string         `json:"failure"`
	Summary          string         `json:"summary,omitempty"`
	Status           string         `json:"status"`
	Unlocked         bool           `json:"unlocked"`
	SolutionUnlocked bool           `json:"solution_unlocked"`
	CaughtUp         bool           `json:"caught_up"`
	StartedAt        *time.Time     `json:"started_at,omitempty"`
	CurrentStep      int            `json:"current_step"`
	Steps            []listStep     `json:"steps"`
	Chaos            *listChaosInfo `json:"chaos,omitempty"`
}

type listStep struct {
	Number     int    `json:"number"`
	Title      string `json:"title"`
	Concept    string `json:"concept,omitempty"`
	Status     string `json:"status"`
	Tests      int    `json:"tests"`
	Hints      int    `json:"hints"`
	HintsShown int    `json:"hints_shown"`
	Solo       int    `json:"solo_minutes"`
	Mob        int    `json:"mob_minutes"`
}

type listChaosInfo struct {
	Runs   int  `json:"runs"`
	Passed bool `json:"passed"`
}

func listRows(labs []kit.LabInfo) []listRow {
	rows := []listRow{}
	for _, l := range labs {
		r := listRow{Number: l.Number, Slug: l.Slug, Title: l.Title, Failure: l.Failure, Summary: l.Summary,
			Status: string(l.Status), Unlocked: l.Unlocked, SolutionUnlocked: l.SolutionUnlocked, CaughtUp: l.CaughtUp,
			CurrentStep: l.Current, Steps: []listStep{}}
		if !l.StartedAt.IsZero() {
			at := l.StartedAt
			r.StartedAt = &at
		}
		for i, s := range l.Steps {
			si := l.StepInfos[i]
			r.Steps = append(r.Steps, listStep{Number: i + 1, Title: s.Title, Concept: s.Concept, Status: si.Status,
				Tests: len(s.Tests()), Hints: si.Hints, HintsShown: si.HintsShown, Solo: s.Solo, Mob: s.Mob})
		}
		if l.Chaos != nil {
			r.Chaos = &listChaosInfo{Runs: l.Chaos.Runs, Passed: l.ChaosPassed}
		}
		rows = append(rows, r)
	}
	return rows
}

func statusIcon(s progress.Status) string {
	switch s {
	case progress.Passed:
		return report.GlyphPass
	case progress.Failing:
		return report.GlyphFail
	case progress.Locked:
		return "·"
	}
	return report.GlyphNotRun
}

// labRun is what run and chaos share: the kit, the lab, the services, and the start-up sweep going on.
type labRun struct {
	k         *kit.Kit
	li        kit.LabInfo
	opts      kit.RunOptions
	sweepDone func()
}

// startLabRun opens the kit, finds lab n and the services (an unreachable one is INFRA, exit 2), and starts the
// sweep of this checkout's stale names beside the run.
func (a *app) startLabRun(ctx context.Context, cmd string, n int, timeout time.Duration) (*labRun, int) {
	k, ok := a.open()
	if !ok {
		return nil, exitEnv
	}
	li, err := k.Info(n)
	if err != nil {
		fmt.Fprintf(a.stderr, "checker %s: %v\n", cmd, err)
		return nil, exitEnv
	}
	eps, err := a.resolve(ctx)
	if err != nil {
		fmt.Fprint(a.stderr, report.Plain([]report.Line{report.Unreachable(err)}))
		return nil, exitEnv
	}
	if a.red != nil {
		a.red.add(eps.AMQP.URL, eps.Database.URL)
	}
	self, _ := a.executable()
	probes := a.probes
	lr := &labRun{k: k, li: li, opts: kit.RunOptions{Endpoints: eps, Checker: self, Owner: a.owner(k.Root), Timeout: timeout, Probes: &probes}}
	lr.sweepDone = a.sweep(ctx, eps, k.Root)
	return lr, exitOK
}

// liveRows prints each finished top-level test as the run goes on.
func (a *app) liveRows() func(gotest.Event) {
	return func(ev gotest.Event) {
		if ev.Kind == gotest.TestFinished && ev.Result.Top() {
			a.print([]report.Line{report.TestRow(*ev.Result, 1)})
		}
	}
}

// finishLabRun records the run when it counts, prints or encodes it, and returns the exit code.
func (a *app) finishLabRun(ctx context.Context, cmd string, lr *labRun, res *kit.RunResult, err error, asJSON bool) int {
	lr.sweepDone()
	if err != nil {
		if ctx.Err() != nil {
			fmt.Fprintf(a.stderr, "checker %s: interrupted; the tests were stopped and nothing was recorded\n", cmd)
			return exitEnv
		}
		fmt.Fprintf(a.stderr, "checker %s: %v\n", cmd, err)
		return exitEnv
	}
	if err := lr.k.Record(res); err != nil {
		fmt.Fprintf(a.stderr, "checker %s: %v\n", cmd, err)
		return exitEnv
	}
	for _, w := range lr.k.Progress.Warnings() {
		fmt.Fprintf(a.stderr, "checker: warning: %s\n", w)
	}
	a.announce(ctx, lr, res)
	lines := report.Run(res, a.reportOptions(lr.k))
	code := outcomeExit(res.Outcome())
	if asJSON {
		a.printJSON(runJSON(res, lines))
		return code
	}
	fmt.Fprintln(a.stdout)
	a.print(lines)
	return code
}

// outcomeExit maps a run's outcome to the checker's exit code.
func outcomeExit(o kit.Outcome) int {
	switch o {
	case kit.Passed:
		return exitOK
	case kit.InfraDown:
		return exitEnv
	case kit.NotCounted:
		return exitNotCounted
	}
	return exitFailing
}

func runJSON(res *kit.RunResult, lines []report.Line) map[string]any {
	type step struct {
		Number int             `json:"number"`
		Title  string          `json:"title"`
		Passed bool            `json:"passed"`
		Tests  []gotest.Result `json:"tests"`
		NotRun []string        `json:"not_run,omitempty"`
	}
	steps := []step{}
	for _, s := range res.Steps {
		steps = append(steps, step{s.Number, s.Step.Title, s.Passed, s.Tests, s.NotRun})
	}
	var mistakes []string
	for _, m := range res.Mistakes {
		mistakes = append(mistakes, m.Name)
	}
	var infra []string
	for _, p := range res.Infra {
		infra = append(infra, p.String())
	}
	doc := map[string]any{
		"number": res.Lab.Number, "slug": res.Lab.Slug, "outcome": res.Outcome(), "passed": res.Passed(),
		"result": res.Kind, "current_step": res.Current, "steps": steps, "was_locked": res.WasLocked,
		"not_counted": res.NotCounted, "infra": infra, "mistakes": mistakes, "recorded": res.Recorded,
		"unlocked": res.Unlocked, "report": res.Report, "lines": lines,
	}
	if res.Chaos != nil {
		doc["chaos"] = map[string]any{"passed": res.Chaos.Passed(), "seed": res.Chaos.Seed, "runs": res.Chaos.Runs, "report": res.Chaos.Report}
	}
	return doc
}

func (a *app) cmdRun(ctx context.Context, args []string) int {
	fs := a.flags("run")
	asJSON := fs.Bool("json", false, "print the result as JSON instead of lines")
	timeout := fs.Duration("timeout", gotest.DefaultTimeout, "bound on the whole run of the tests")
	svg := fs.String("svg", "", "write the first failing test's sequence diagram to this file (SVG)")
	pos, err := parse(fs, args)
	if err != nil {
		return usageErr(err)
	}
	n, ok := a.labArg("run", pos)
	if !ok {
		return exitEnv
	}
	lr, code := a.startLabRun(ctx, "run", n, *timeout)
	if lr == nil {
		return code
	}
	var onEvent func(gotest.Event)
	if !*asJSON {
		a.print(report.Header(lr.li))
		onEvent = a.liveRows()
	}
	res, err := lr.k.Run(ctx, n, lr.opts, onEvent)
	code = a.finishLabRun(ctx, "run", lr, res, err, *asJSON)
	if *svg != "" && err == nil {
		code = a.writeDiagram(lr.k, res, *svg, code)
	}
	return code
}

// writeDiagram writes the sequence diagram of the run's first failing test (the one the report presents first) to
// file, and says so on stderr (stdout may be JSON). A run with no failing test writes nothing and says why; the exit
// code stays the run's, unless the diagram cannot be written.
func (a *app) writeDiagram(k *kit.Kit, res *kit.RunResult, file string, code int) int {
	tests := report.FailingTests(res)
	if len(tests) == 0 {
		fmt.Fprintf(a.stderr, "checker run: no test failed, so there is no diagram to write (`%s diagram %d TEST --svg %s` draws a passing one)\n",
			a.checkerCmd(k.Root), res.Lab.Number, file)
		return code
	}
	drawn, err := diagram.WriteSVG(k.RunDir(res.Lab.Number), tests[0], file)
	if err != nil {
		fmt.Fprintf(a.stderr, "checker run: the diagram of %s: %v\n", tests[0], err)
		if code == exitOK {
			return exitEnv
		}
		return code
	}
	fmt.Fprintf(a.stderr, "the diagram of %s is in %s\n", drawn.Test, file)
	return code
}

// cmdDiagram is `checker diagram N [TEST] [--svg FILE] [--width W] [--list]`: a test of lab N's last run as a
// sequence diagram, on the terminal or as SVG (checker/diagram does the work).
func (a *app) cmdDiagram(ctx context.Context, args []string) int {
	root, err := lab.FindRoot(a.dir)
	if err != nil {
		fmt.Fprintf(a.stderr, "checker diagram: %v\n", err)
		return exitEnv
	}
	return diagram.Command(ctx, root, args, a.stdout, a.stderr)
}

func (a *app) cmdChaos(ctx context.Context, args []string) int {
	fs := a.flags("chaos")
	seed := fs.String("seed", "", "the first schedule's seed (the replay line of a failure gives it)")
	runs := fs.Int("runs", 0, "how many schedules (default: the lab's own)")
	asJSON := fs.Bool("json", false, "print the result as JSON instead of lines")
	timeout := fs.Duration("timeout", gotest.DefaultTimeout, "bound on the whole chaos stage")
	pos, err := parse(fs, args)
	if err != nil {
		return usageErr(err)
	}
	n, ok := a.labArg("chaos", pos)
	if !ok {
		return exitEnv
	}
	if _, err := strconv.ParseInt(*seed, 10, 64); *seed != "" && err != nil {
		fmt.Fprintf(a.stderr, "checker chaos: --seed %q is not a whole number\n", *seed)
		return exitEnv
	}
	if *runs < 0 {
		fmt.Fprintln(a.stderr, "checker chaos: --runs must be at least 1")
		return exitEnv
	}
	lr, code := a.startLabRun(ctx, "chaos", n, *timeout)
	if lr == nil {
		return code
	}
	if lr.li.Chaos == nil {
		lr.sweepDone()
		fmt.Fprintf(a.stderr, "checker chaos: lab %d has no chaos stage\n", n)
		return exitEnv
	}
	var onEvent func(gotest.Event)
	if !*asJSON {
		a.print(report.Header(lr.li))
		onEvent = a.liveRows()
	}
	res, err := lr.k.Chaos(ctx, n, lr.opts, kit.ChaosOptions{Seed: *seed, Runs: *runs}, onEvent)
	return a.finishLabRun(ctx, "chaos", lr, res, err, *asJSON)
}

func (a *app) cmdHint(_ context.Context, args []string) int {
	fs := a.flags("hint")
	all := fs.Bool("all", false, "show every hint of the step")
	step := fs.Int("step", 0, "the step (default: the one you are on, the first that did not pass)")
	pos, err := parse(fs, args)
	if err != nil {
		return usageErr(err)
	}
	n, ok := a.labArg("hint", pos)
	if !ok {
		return exitEnv
	}
	k, ok := a.open()
	if !ok {
		return exitEnv
	}
	if *all {
		hints, err := k.Hints(n, *step)
		if err != nil {
			fmt.Fprintf(a.stderr, "checker hint: %v\n", err)
			return exitEnv
		}
		for _, h := range hints {
			fmt.Fprintf(a.stdout, "step %d of %d, hint %d/%d: %s\n", h.Step, h.Steps, h.Index+1, h.Total, h.Text)
		}
		return exitOK
	}
	h, err := k.NextHint(n, *step)
	if err != nil {
		fmt.Fprintf(a.stderr, "checker hint: %v\n", err)
		return exitEnv
	}
	fmt.Fprintf(a.stdout, "lab %d, step %d of %d (%s), hint %d/%d: %s\n", n, h.Step, h.Steps, h.StepTitle, h.Index+1, h.Total, h.Text)
	cmd := a.checkerCmd(k.Root) + " hint " + strconv.Itoa(n)
	if *step != 0 {
		cmd += " --step " + strconv.Itoa(*step)
	}
	if !h.Last() {
		fmt.Fprintf(a.stdout, "(`%s` again for the next one)\n", cmd)
	} else {
		fmt.Fprintf(a.stdout, "(that was the last hint of step %d; the solution unlocks when lab %d passes)\n", h.Step, n)
	}
	return exitOK
}

func (a *app) cmdSolution(_ context.Context, args []string) int {
	fs := a.flags("solution")
	diff := fs.Bool("diff", false, "show a diff from your files to the solution")
	apply := fs.Bool("apply", false, "back up your files and write the solution over them")
	pos, err := parse(fs, args)
	if err != nil {
		return usageErr(err)
	}
	n, ok := a.labArg("solution", pos)
	if !ok {
		return exitEnv
	}
	if *diff && *apply {
		fmt.Fprintln(a.stderr, "checker solution: --diff and --apply do not go together")
		return exitEnv
	}
	k, ok := a.open()
	if !ok {
		return exitEnv
	}
	switch {
	case *apply:
		backup, err := k.ApplySolution(n)
		if err != nil {
			fmt.Fprintf(a.stderr, "checker solution: %v\n", err)
			return exitEnv
		}
		l, _ := k.Catalog.Lab(n)
		fmt.Fprintf(a.stdout, "backed up your files to %s\nwrote the solution into %s/%s\n", backup, l.Dir(), strings.Join(l.Edit, ", "))
		return exitOK
	case *diff:
		d, err := k.SolutionDiff(n)
		if err != nil {
			fmt.Fprintf(a.stderr, "checker solution: %v\n", err)
			return exitEnv
		}
		if d == "" {
			fmt.Fprintln(a.stdout, "your files are identical to the solution")
		}
		fmt.Fprint(a.stdout, d)
	default:
		files, err := k.Solution(n)
		if err != nil {
			fmt.Fprintf(a.stderr, "checker solution: %v\n", err)
			return exitEnv
		}
		for i, f := range files {
			if i > 0 {
				fmt.Fprintln(a.stdout)
			}
			fmt.Fprintf(a.stdout, "==> %s <==\n%s", f.Path, f.Content)
		}
	}
	return a.printFollowUp(k, n)
}

// printFollowUp prints lab n's follow-up after its solution, when the lab has one.
func (a *app) printFollowUp(k *kit.Kit, n int) int {
	text, rel, err := k.FollowUp(n)
	if err != nil {
		fmt.Fprintf(a.stderr, "checker solution: %v\n", err)
		return exitEnv
	}
	if text != "" {
		fmt.Fprintf(a.stdout, "\n==> %s <==\n%s", rel, text)
		if !strings.HasSuffix(text, "\n") {
			fmt.Fprintln(a.stdout)
		}
	}
	return exitOK
}

func (a *app) cmdReset(ctx context.Context, args []string) int {
	fs := a.flags("reset")
	pos, err := parse(fs, args)
	if err != nil {
		return usageErr(err)
	}
	n, ok := a.labArg("reset", pos)
	if !ok {
		return exitEnv
	}
	k, ok := a.open()
	if !ok {
		return exitEnv
	}
	backup, err := k.Reset(ctx, n)
	if err != nil {
		fmt.Fprintf(a.stderr, "checker reset: %v\n", err)
		return exitEnv
	}
	if backup == "" {
		fmt.Fprintf(a.stdout, "lab %d already is the starter; nothing to reset\n", n)
		return exitOK
	}
	fmt.Fprintf(a.stdout, "backed up your files to %s\nrestored the starter of lab %d\n", backup, n)
	return exitOK
}

func (a *app) cmdCatchUp(ctx context.Context, args []string) int {
	fs := a.flags("catch-up")
	share := fs.Bool("share", false, "keep the progress also in "+progress.SharedFile+", to commit for the mob")
	pos, err := parse(fs, args)
	if err != nil {
		return usageErr(err)
	}
	n, ok := a.labArg("catch-up", pos)
	if !ok {
		return exitEnv
	}
	k, ok := a.open()
	if !ok {
		return exitEnv
	}
	if *share {
		if _, err := k.Share(true); err != nil {
			fmt.Fprintf(a.stderr, "checker catch-up: %v\n", err)
			return exitEnv
		}
	}
	res, err := k.CatchUp(ctx, n)
	if err != nil {
		fmt.Fprintf(a.stderr, "checker catch-up: %v\n", err)
		return exitEnv
	}
	a.print(report.CatchUp(res, *share, a.reportOptions(k)))
	return exitOK
}

func (a *app) cmdShare(_ context.Context, args []string) int {
	fs := a.flags("share")
	off := fs.Bool("off", false, "stop: merge "+progress.SharedFile+" into your own progress and remove it")
	pos, err := parse(fs, args)
	if err != nil {
		return usageErr(err)
	}
	if len(pos) > 0 {
		fmt.Fprintln(a.stderr, "checker share: takes no arguments")
		return exitEnv
	}
	k, ok := a.open()
	if !ok {
		return exitEnv
	}
	file, err := k.Share(!*off)
	if err != nil {
		fmt.Fprintf(a.stderr, "checker share: %v\n", err)
		return exitEnv
	}
	if *off {
		fmt.Fprintf(a.stdout, "stopped sharing: removed %s (its progress is kept in %s)\n", file, progress.File)
		return exitOK
	}
	fmt.Fprintf(a.stdout, "your progress is now kept in %s too: commit it with your code, and the checker of whoever "+
		"picks the code up merges it (`%s share --off` stops)\n", file, a.checkerCmd(k.Root))
	return exitOK
}
