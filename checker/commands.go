package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"msglabs/checker/containers"
	"msglabs/checker/doctor"
	"msglabs/checker/gotest"
	"msglabs/checker/kit"
	"msglabs/checker/lab"
	"msglabs/checker/readme"
	"msglabs/checker/seal"
	"msglabs/checker/verify"
)

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
		type row struct {
			Number           int    `json:"number"`
			Slug             string `json:"slug"`
			Title            string `json:"title"`
			Failure          string `json:"failure"`
			Summary          string `json:"summary,omitempty"`
			Status           string `json:"status"`
			Unlocked         bool   `json:"unlocked"`
			SolutionUnlocked bool   `json:"solution_unlocked"`
		}
		rows := []row{}
		for _, l := range labs {
			rows = append(rows, row{l.Number, l.Slug, l.Title, l.Failure, l.Summary, string(l.Status), l.Unlocked, l.SolutionUnlocked})
		}
		return a.printJSON(map[string]any{"instructor": k.Instructor, "labs": rows})
	}
	if len(labs) == 0 {
		fmt.Fprintln(a.stdout, "no labs in this kit yet")
		return exitOK
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  #\tlab\tstatus\tsolution")
	for _, l := range labs {
		sol := "locked"
		if l.SolutionUnlocked {
			sol = "unlocked"
		}
		fmt.Fprintf(tw, "%3d\t%s\t%s %s\t%s\n", l.Number, l.Title, statusIcon(string(l.Status)), l.Status, sol)
	}
	tw.Flush()
	if k.Instructor {
		fmt.Fprintln(a.stdout, "(instructor mode: everything is unlocked)")
	}
	return exitOK
}

func statusIcon(s string) string {
	switch s {
	case "passed":
		return "✓"
	case "failing":
		return "✗"
	case "locked":
		return "·"
	}
	return "○"
}

func (a *app) printJSON(v any) int {
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		fmt.Fprintf(a.stderr, "checker: %v\n", err)
		return exitEnv
	}
	return exitOK
}

func (a *app) cmdRun(ctx context.Context, args []string) int {
	fs := a.flags("run")
	asJSON := fs.Bool("json", false, "print the result as JSON instead of live lines")
	timeout := fs.Duration("timeout", gotest.DefaultTimeout, "go test -timeout for the run")
	pos, err := parse(fs, args)
	if err != nil {
		return usageErr(err)
	}
	n, ok := a.labArg("run", pos)
	if !ok {
		return exitEnv
	}
	k, ok := a.open()
	if !ok {
		return exitEnv
	}
	li, err := k.Info(n)
	if err != nil {
		fmt.Fprintf(a.stderr, "checker run: %v\n", err)
		return exitEnv
	}
	eps, ok := a.resolveInfra(ctx)
	if !ok {
		return exitEnv
	}
	self, _ := a.executable()
	if !*asJSON {
		fmt.Fprintf(a.stdout, "lab %d · %s  (%s)\n", li.Number, li.Title, li.Dir())
		if !li.Unlocked {
			fmt.Fprintf(a.stdout, "note: lab %d is still locked (pass the lab before it first); running it anyway, each lab stands alone.\n", n)
		}
	}
	var onEvent func(gotest.Event)
	if !*asJSON {
		onEvent = func(ev gotest.Event) {
			if ev.Kind == gotest.TestFinished && ev.Result.Top() {
				a.printTest(*ev.Result)
			}
		}
	}
	res, err := k.Run(ctx, n, kit.RunOptions{Endpoints: eps, Checker: self, Timeout: *timeout}, onEvent)
	if err != nil {
		fmt.Fprintf(a.stderr, "checker run: %v\n", err)
		return exitEnv
	}
	code := runExit(res.Kind)
	if *asJSON {
		a.printJSON(map[string]any{
			"number": li.Number, "slug": li.Slug, "result": res.Kind, "passed": res.Passed(),
			"was_locked": res.WasLocked, "tests_edited": res.TestsEdited, "unsealed": res.Unsealed, "recorded": res.Recorded,
			"unlocked": res.Unlocked, "report": res.Report,
		})
		return code
	}
	a.printRunSummary(res)
	return code
}

func runExit(k gotest.Kind) int {
	switch k {
	case gotest.Passed:
		return exitOK
	case gotest.InfraError, gotest.NoTests:
		return exitEnv
	}
	return exitFailing
}

// printTest prints one finished top-level test and, for a failure, its story.
func (a *app) printTest(r gotest.Result) {
	switch r.Status {
	case gotest.Pass:
		fmt.Fprintf(a.stdout, "  ✓ %s  %s\n", r.Name, dur(r.Elapsed))
		return
	case gotest.Skip:
		fmt.Fprintf(a.stdout, "  - %s  skipped\n", r.Name)
		return
	}
	fmt.Fprintf(a.stdout, "  ✗ %s  %s\n", r.Name, dur(r.Elapsed))
	switch {
	case r.TimedOut:
		fmt.Fprintf(a.stdout, "      did not finish in time: it hangs (a wait without a bound, or a message nobody takes?)\n")
	case r.Panic != nil:
		fmt.Fprintf(a.stdout, "      panic: %s\n", r.Panic.Message)
		if r.Panic.At != "" {
			fmt.Fprintf(a.stdout, "      at %s\n", r.Panic.At)
		}
	case r.Story != "":
		for _, line := range strings.Split(r.Story, "\n") {
			fmt.Fprintf(a.stdout, "      %s\n", line)
		}
	default:
		// No marker: show what the test said, without the run/fail bookkeeping lines.
		for _, line := range r.Output {
			if strings.HasPrefix(line, "=== ") || strings.HasPrefix(strings.TrimSpace(line), "--- ") {
				continue
			}
			fmt.Fprintf(a.stdout, "    %s\n", line)
		}
	}
}

func (a *app) printRunSummary(res *kit.RunResult) {
	rep := res.Report
	pass, fail := rep.Counts()
	n := res.Lab.Number
	switch res.Kind {
	case gotest.BuildError:
		fmt.Fprintf(a.stdout, "✗ lab %d does not compile:\n", n)
		for _, l := range rep.Build {
			fmt.Fprintf(a.stdout, "    %s\n", l)
		}
		fmt.Fprintln(a.stdout, "  fix the compile error and run again.")
	case gotest.InfraError:
		fmt.Fprintf(a.stdout, "✗ the lab could not reach its services (not a failure of your code): %s\n", firstLine(rep.Infra))
		fmt.Fprintln(a.stdout, "  fix: run `checker doctor`, then `make up` or set MSGLABS_AMQP_URL / MSGLABS_DATABASE_URL")
	case gotest.TimedOut:
		fmt.Fprintf(a.stdout, "✗ lab %d timed out: %s was still running. Something waits forever (a consumer that never gets its message, a wait without a bound?).\n",
			n, strings.Join(rep.Timeout, ", "))
	case gotest.Panicked:
		at := ""
		if rep.Panic.At != "" {
			at = " at " + rep.Panic.At
		}
		fmt.Fprintf(a.stdout, "✗ lab %d panicked in %s: %s%s\n", n, rep.Panic.Test, rep.Panic.Message, at)
	case gotest.NoTests:
		fmt.Fprintf(a.stdout, "✗ lab %d ran no tests", n)
		if rep.Stderr != "" {
			fmt.Fprintf(a.stdout, ": %s", firstLine(rep.Stderr))
		}
		fmt.Fprintln(a.stdout)
	case gotest.Passed:
		fmt.Fprintf(a.stdout, "✓ lab %d passed · %d tests · %s\n", n, pass, dur(rep.Elapsed))
	default:
		fmt.Fprintf(a.stdout, "✗ lab %d: %d passed, %d failed · %s\n", n, pass, fail, dur(rep.Elapsed))
	}
	if rep.Race {
		fmt.Fprintln(a.stdout, "  the race detector found a data race (see the test output).")
	}
	if len(res.TestsEdited) > 0 {
		fmt.Fprintf(a.stdout, "note: %s differs from the shipped test, so this run was not recorded (restore it: git checkout -- %s).\n",
			strings.Join(res.TestsEdited, ", "), strings.Join(res.TestsEdited, " "))
	}
	if res.Unsealed {
		fmt.Fprintf(a.stdout, "note: lab %d is not sealed yet (kit maintainers: go run ./checker seal), so this run was not recorded.\n", n)
	}
	if len(res.Unlocked) > 0 {
		fmt.Fprintf(a.stdout, "unlocked: %s\n", strings.Join(res.Unlocked, ", "))
	}
	if res.Kind == gotest.Failed {
		fmt.Fprintf(a.stdout, "stuck? `checker hint %d`\n", n)
	}
}

func (a *app) cmdVerify(ctx context.Context, args []string) int {
	fs := a.flags("verify")
	count := fs.Int("count", 1, "how many times the solution's tests run (with -race)")
	asJSON := fs.Bool("json", false, "print one JSON document")
	timeout := fs.Duration("timeout", gotest.DefaultTimeout, "go test -timeout per run")
	pos, err := parse(fs, args)
	if err != nil {
		return usageErr(err)
	}
	if *count < 1 {
		fmt.Fprintln(a.stderr, "checker verify: --count must be at least 1")
		return exitEnv
	}
	k, ok := a.open()
	if !ok {
		return exitEnv
	}
	labs, problems := k.Catalog.Labs, k.Catalog.Problems()
	if len(pos) > 0 {
		labs, problems = nil, nil
		for _, p := range pos {
			n, ok := a.labArg("verify", []string{p})
			if !ok {
				return exitEnv
			}
			if probs := k.Catalog.Broken[n]; len(probs) > 0 {
				problems = append(problems, probs...)
				continue
			}
			l, err := k.Catalog.Lab(n)
			if err != nil {
				fmt.Fprintf(a.stderr, "checker verify: %v\n", err)
				return exitEnv
			}
			labs = append(labs, l)
		}
	}
	eps, ok := a.resolveInfra(ctx)
	if !ok {
		return exitEnv
	}
	self, _ := a.executable()
	opts := verify.Options{Count: *count, Env: kit.TestEnv(eps, self), Timeout: *timeout, Strict: a.getenv("CI") == "true"}
	start := time.Now()
	var onLab func(verify.Result)
	if !*asJSON {
		onLab = func(r verify.Result) { fmt.Fprintln(a.stdout, verifyLine(r, *count)) }
	}
	sum := verify.All(ctx, k.Catalog, labs, opts, onLab)
	if len(problems) > 0 {
		sum.Verified, sum.Problems = false, problems
		if len(labs) == 0 {
			sum.Error = ""
		}
	}
	code := exitOK
	switch {
	case sum.Infra():
		code = exitEnv
	case !sum.Verified:
		code = exitFailing
	}
	if *asJSON {
		a.printJSON(sum)
		return code
	}
	good := 0
	for _, r := range sum.Labs {
		if r.Verified {
			good++
		}
	}
	mark := "✓"
	if !sum.Verified {
		mark = "✗"
	}
	for _, p := range sum.Problems {
		fmt.Fprintf(a.stdout, "✗ %s\n", p)
	}
	extra := ""
	if len(sum.Problems) > 0 {
		extra = fmt.Sprintf(" · %d problems in lab folders", len(sum.Problems))
	}
	fmt.Fprintf(a.stdout, "%s verified %d of %d labs%s · %s\n", mark, good, len(labs), extra, dur(time.Since(start)))
	if sum.Error != "" {
		fmt.Fprintf(a.stdout, "  %s\n", sum.Error)
	}
	return code
}

// verifyLine is the one line verify prints per lab (verify.Result.Line: every check, or every reason).
func verifyLine(r verify.Result, count int) string { return r.Line() }

func (a *app) cmdDoctor(ctx context.Context, args []string) int {
	fs := a.flags("doctor")
	asJSON := fs.Bool("json", false, "print JSON")
	if _, err := parse(fs, args); err != nil {
		return usageErr(err)
	}
	checks := doctor.Run(ctx, a.probes)
	code := exitOK
	if doctor.Failed(checks) {
		code = exitEnv
	}
	if *asJSON {
		a.printJSON(checks)
		return code
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
	for _, c := range checks {
		mark := "✓"
		if !c.OK {
			mark = "✗"
			if !c.Required {
				mark = "!"
			}
		}
		if !c.OK && c.Fix != "" {
			// One line per problem, cause and fix together, so it survives being pasted into a chat.
			fmt.Fprintf(tw, "%s %s\t%s; fix: %s\n", mark, c.Name, c.Detail, c.Fix)
			continue
		}
		fmt.Fprintf(tw, "%s %s\t%s\n", mark, c.Name, c.Detail)
	}
	tw.Flush()
	return code
}

func (a *app) cmdHint(_ context.Context, args []string) int {
	fs := a.flags("hint")
	all := fs.Bool("all", false, "show every hint")
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
		hints, err := k.Hints(n)
		if err != nil {
			fmt.Fprintf(a.stderr, "checker hint: %v\n", err)
			return exitEnv
		}
		for _, h := range hints {
			fmt.Fprintf(a.stdout, "hint %d/%d: %s\n", h.Index+1, h.Total, h.Text)
		}
		return exitOK
	}
	h, err := k.NextHint(n)
	if err != nil {
		fmt.Fprintf(a.stderr, "checker hint: %v\n", err)
		return exitEnv
	}
	fmt.Fprintf(a.stdout, "hint %d/%d for lab %d: %s\n", h.Index+1, h.Total, n, h.Text)
	if h.Index+1 < h.Total {
		fmt.Fprintf(a.stdout, "(`checker hint %d` again for the next one)\n", n)
	} else {
		fmt.Fprintf(a.stdout, "(that was the last hint; the solution unlocks when lab %d passes)\n", n)
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

func (a *app) cmdSeal(ctx context.Context, args []string) int {
	fs := a.flags("seal")
	check := fs.Bool("check", false, "only check: exit 1 if a seal is stale")
	if pos, err := parse(fs, args); err != nil || len(pos) > 0 {
		if err == nil {
			fmt.Fprintln(a.stderr, "checker seal: takes no arguments")
		}
		return exitEnv
	}
	root, err := lab.FindRoot(a.dir)
	if err != nil {
		fmt.Fprintf(a.stderr, "checker seal: %v\n", err)
		return exitEnv
	}
	cat, err := lab.Load(root)
	if err != nil {
		fmt.Fprintf(a.stderr, "checker seal: %v\n", err)
		return exitEnv
	}
	problems := cat.Problems()
	if *check {
		stale, err := seal.Check(ctx, cat, a.getenv("CI") == "true")
		if err != nil {
			fmt.Fprintf(a.stderr, "checker seal: %v\n", err)
			return exitEnv
		}
		for _, p := range problems {
			fmt.Fprintln(a.stdout, p)
		}
		generated := readme.Check(cat)
		for _, p := range generated {
			fmt.Fprintln(a.stdout, p)
		}
		if len(stale) == 0 {
			if len(problems) > 0 || len(generated) > 0 {
				return exitFailing
			}
			fmt.Fprintf(a.stdout, "seals of %d labs and shared/ are up to date\n", len(cat.Labs))
			return exitOK
		}
		fmt.Fprintf(a.stdout, "stale seals in %s (fix: %s):\n", lab.SumFile, seal.Fix)
		for _, s := range stale {
			fmt.Fprintf(a.stdout, "  %s\n", s)
		}
		return exitFailing
	}
	for _, p := range problems {
		fmt.Fprintf(a.stderr, "checker seal: warning: %s (not sealed)\n", p)
	}
	sealed, err := seal.Write(cat)
	if err != nil {
		fmt.Fprintf(a.stderr, "checker seal: %v\n", err)
		return exitEnv
	}
	changed, err := readme.Sync(cat)
	if err != nil {
		fmt.Fprintf(a.stderr, "checker seal: %v\n", err)
		return exitEnv
	}
	if sealed {
		changed = append([]string{lab.SumFile}, changed...)
	}
	if len(changed) == 0 {
		fmt.Fprintf(a.stdout, "seals of %d labs and shared/ were already up to date\n", len(cat.Labs))
		return exitOK
	}
	fmt.Fprintf(a.stdout, "sealed %d labs and shared/; wrote %s\n", len(cat.Labs), strings.Join(changed, ", "))
	return exitOK
}

func (a *app) cmdContainers(ctx context.Context, args []string) int {
	fs := a.flags("containers")
	if _, err := parse(fs, args); err != nil {
		return usageErr(err)
	}
	eps, err := a.startContainers(ctx)
	if err != nil {
		fmt.Fprintf(a.stderr, "checker containers: %v\n", err)
		return exitEnv
	}
	// These lines are read by infra.ParseEnvLines, so they carry the (well-known, local) credentials as they are.
	fmt.Fprint(a.rawStdout(), containers.EnvLines(eps))
	return exitOK
}

// rawStdout is stdout without redaction, for machine-read output.
func (a *app) rawStdout() interface{ Write([]byte) (int, error) } {
	if rw, ok := a.stdout.(*redactWriter); ok {
		return rw.w
	}
	return a.stdout
}

func dur(d time.Duration) string {
	if d < time.Second {
		return fmt.Sprintf("%dms", d.Milliseconds())
	}
	return fmt.Sprintf("%.1fs", d.Seconds())
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
