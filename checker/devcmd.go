package main

import (
	"context"
	"fmt"
	"msglabs/checker/agenda"
	"slices"
	"strconv"
	"strings"
	"time"

	"msglabs/checker/devcheck"
	"msglabs/checker/kit"
	"msglabs/checker/lab"
	"msglabs/checker/readme"
	"msglabs/shared/leftover"
)

// devUsage is the maintainers' commands; they are not in the attendee's usage text.
const devUsage = `usage: checker dev <command>

  check [--rules a,b] [--skip a,b] [--labs N,M] [--pending] [--list]
          the kit's conventions (in make test); --list shows the rules
  left --since UNIX
          fail when test runs on this host since then left names on the services, or still hold them
          (make test's last stage)
  readme [--no-run]
          regenerate what the lab metadata and the starters say: the README tables, lab headings,
          Next: lines, the lab count in prose, and each annotated failure headline (runs the starters)
`

// cmdDev runs the maintainers' commands: dev check and dev readme.
func (a *app) cmdDev(ctx context.Context, args []string) int {
	if len(args) == 0 {
		fmt.Fprint(a.stderr, devUsage)
		return exitEnv
	}
	switch args[0] {
	case "check":
		return a.cmdDevCheck(ctx, args[1:])
	case "readme":
		return a.cmdDevReadme(ctx, args[1:])
	case "left":
		return a.cmdDevLeft(ctx, args[1:])
	case "help", "-h", "--help":
		fmt.Fprint(a.stdout, devUsage)
		return exitOK
	}
	fmt.Fprintf(a.stderr, "checker dev: unknown command %q\n%s", args[0], devUsage)
	return exitEnv
}

func (a *app) loadCatalog(cmd string) (*lab.Catalog, bool) {
	root, err := lab.FindRoot(a.dir)
	if err != nil {
		fmt.Fprintf(a.stderr, "checker %s: %v\n", cmd, err)
		return nil, false
	}
	c, err := lab.Load(root)
	if err != nil {
		fmt.Fprintf(a.stderr, "checker %s: %v\n", cmd, err)
		return nil, false
	}
	return c, true
}

func parseLabs(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("--labs wants lab numbers, like 5,6 (got %q)", f)
		}
		out = append(out, n)
	}
	return out, nil
}

func (a *app) cmdDevCheck(ctx context.Context, args []string) int {
	fs := a.flags("dev check")
	rules := fs.String("rules", "", "only these rules, comma-separated")
	skip := fs.String("skip", "", "not these rules, comma-separated")
	labs := fs.String("labs", "", "only these labs, comma-separated numbers (kit-wide rules still run)")
	pending := fs.Bool("pending", false, "list every problem of the pending rules, not just their count")
	list := fs.Bool("list", false, "list the rules and exit")
	if pos, err := parse(fs, args); err != nil || len(pos) > 0 {
		if err == nil {
			fmt.Fprintln(a.stderr, "checker dev check: takes no arguments")
		}
		return exitEnv
	}
	if *list {
		for _, r := range devcheck.AllRules() {
			state := "enforced"
			if !devcheck.Enforced[r] {
				state = "pending"
			}
			fmt.Fprintf(a.stdout, "%-14s %-8s %s\n", r, state, devcheck.Describe[r])
		}
		return exitOK
	}
	var o devcheck.Options
	var err error
	if o.Rules, err = devcheck.ParseRules(*rules); err == nil {
		if o.Skip, err = devcheck.ParseRules(*skip); err == nil {
			o.Labs, err = parseLabs(*labs)
		}
	}
	if err != nil {
		fmt.Fprintf(a.stderr, "checker dev check: %v\n", err)
		return exitEnv
	}
	c, ok := a.loadCatalog("dev check")
	if !ok {
		return exitEnv
	}
	if needsServices(o) {
		eps, ok := a.resolveInfra(ctx)
		if !ok {
			return exitEnv
		}
		self, _ := a.executable()
		o.Env = kit.TestEnv(eps, self)
	}
	o.Agenda = agendaCheck
	rep := devcheck.Check(ctx, c, o)
	return a.printDevReport(rep, *pending)
}

// agendaCheck checks the instructor guide and the agenda against the labs' metadata.
var agendaCheck = agenda.CheckLabs

// needsServices reports whether the selected rules run a lab's tests.
func needsServices(o devcheck.Options) bool {
	return !slices.Contains(o.Skip, devcheck.RuleHeadline) && (len(o.Rules) == 0 || slices.Contains(o.Rules, devcheck.RuleHeadline))
}

func (a *app) printDevReport(rep devcheck.Report, listPending bool) int {
	failing, pendingBy := 0, map[devcheck.Rule]int{}
	for _, p := range rep.Problems {
		if p.Pending {
			pendingBy[p.Rule]++
			if listPending {
				fmt.Fprintf(a.stdout, "  pending %s: %s\n", p.Rule, p)
			}
			continue
		}
		failing++
		fmt.Fprintf(a.stdout, "✗ %s: %s\n", p.Rule, p)
	}
	var pend []string
	for _, r := range devcheck.AllRules() {
		if n := pendingBy[r]; n > 0 {
			pend = append(pend, fmt.Sprintf("%s %d", r, n))
		}
	}
	note := ""
	if len(pend) > 0 {
		note = " · pending (reported, not enforced yet; --pending lists them): " + strings.Join(pend, ", ")
	}
	switch {
	case rep.Infra():
		fmt.Fprintf(a.stdout, "✗ dev check could not run every rule: a service was not reachable%s\n", note)
		return exitEnv
	case failing > 0:
		fmt.Fprintf(a.stdout, "✗ dev check: %d problems in %d labs%s\n", failing, rep.Labs, note)
		return exitFailing
	}
	fmt.Fprintf(a.stdout, "✓ dev check: %d labs follow the conventions%s\n", rep.Labs, note)
	return exitOK
}

func (a *app) cmdDevReadme(ctx context.Context, args []string) int {
	fs := a.flags("dev readme")
	noRun := fs.Bool("no-run", false, "only what the metadata says; do not run the starters for their headlines")
	if pos, err := parse(fs, args); err != nil || len(pos) > 0 {
		if err == nil {
			fmt.Fprintln(a.stderr, "checker dev readme: takes no arguments")
		}
		return exitEnv
	}
	c, ok := a.loadCatalog("dev readme")
	if !ok {
		return exitEnv
	}
	changed, err := readme.Sync(c)
	if err != nil {
		fmt.Fprintf(a.stderr, "checker dev readme: %v\n", err)
		return exitEnv
	}
	if !*noRun {
		eps, ok := a.resolveInfra(ctx)
		if !ok {
			return exitEnv
		}
		self, _ := a.executable()
		more, err := devcheck.WriteHeadlines(ctx, c, c.Labs, kit.TestEnv(eps, self))
		changed = append(changed, more...)
		if err != nil {
			fmt.Fprintf(a.stderr, "checker dev readme: %v\n", err)
			return exitEnv
		}
	}
	if len(changed) == 0 {
		fmt.Fprintln(a.stdout, "the generated parts of the documents were already up to date")
		return exitOK
	}
	fmt.Fprintf(a.stdout, "wrote %s\n", strings.Join(changed, ", "))
	return exitOK
}

// cmdDevLeft is make test's last stage: nothing the test runs since --since created (the lab tests, the harness's
// and the checker's own tests) is still registered on the services. A name whose process is gone is a leak the
// kit's clean-up missed; one whose process still runs is a test binary that outlived make test.
func (a *app) cmdDevLeft(ctx context.Context, args []string) int {
	fs := a.flags("dev left")
	since := fs.Int64("since", 0, "unix seconds: names registered at or after this time")
	if fs.Parse(args) != nil {
		return exitEnv
	}
	if *since <= 0 {
		fmt.Fprintf(a.stderr, "checker dev left: --since wants unix seconds, as printed by: date +%%s\n")
		return exitEnv
	}
	eps, err := a.resolve(ctx)
	if err != nil {
		fmt.Fprintf(a.stderr, "checker dev left: %v\n", err)
		return exitEnv
	}
	left, err := leftover.Kit{AMQPURL: eps.AMQP.URL, DatabaseURL: eps.Database.URL}.Since(ctx, time.Unix(*since, 0))
	if err != nil {
		fmt.Fprintf(a.stderr, "checker dev left: the registry: %v\n", err)
		return exitEnv
	}
	if len(left) == 0 {
		fmt.Fprintf(a.stdout, "✓ nothing left on the services by the test runs since %s\n", time.Unix(*since, 0).UTC().Format(time.TimeOnly))
		return exitOK
	}
	fmt.Fprintf(a.stdout, "✗ %d name(s) still registered from the test runs since %s:\n", len(left), time.Unix(*since, 0).UTC().Format(time.TimeOnly))
	for _, l := range left {
		state := "its process is gone: a clean-up missed it"
		if l.Alive {
			state = fmt.Sprintf("its process %d still runs", l.PID)
		}
		fmt.Fprintf(a.stdout, "  %s %s (owner %s, %s)\n", l.Kind, l.Name, l.Owner, state)
	}
	fmt.Fprintln(a.stdout, "fix: find the test that created them (the owner and the name say which), make it clean up; then checker clean")
	return exitFailing
}
