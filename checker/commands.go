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
	"msglabs/checker/report"
	"msglabs/checker/seal"
	"msglabs/checker/verify"
)

func (a *app) printJSON(v any) int {
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		fmt.Fprintf(a.stderr, "checker: %v\n", err)
		return exitEnv
	}
	return exitOK
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

func dur(d time.Duration) string { return report.Duration(d) }

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
