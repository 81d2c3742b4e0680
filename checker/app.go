package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"msglabs/checker/containers"
	"msglabs/checker/doctor"
	"msglabs/checker/kit"
	"msglabs/checker/progress"
	"msglabs/checker/report"
	"msglabs/checker/room"
	"msglabs/shared/infra"
)

// Exit codes.
const (
	exitOK         = 0
	exitFailing    = 1
	exitEnv        = 2 // the machine, the services or the command line: never the attendee's lab
	exitNotCounted = 3 // the run cannot say the lab passed: a sealed test did not run, or sealed files changed
)

// app holds what the commands need from the outside world, so tests can replace it.
type app struct {
	stdout, stderr  io.Writer
	getenv          func(string) string
	dir             string // where to look for the kit root
	resolve         func(ctx context.Context) (infra.Endpoints, error)
	startContainers func(ctx context.Context) (infra.Endpoints, error)
	probes          doctor.Probes
	executable      func() (string, error)
	isTerminal      func() bool
	now             func() time.Time
	leftovers       func(ctx context.Context, eps infra.Endpoints) (leftovers, error)
	instructor      bool
	red             *redactor
	// unredacted is stdout without the redactor, for the one line that must show passwords: the paste line
	// `checker room setup` prints for the attendees (it is the point of the command).
	unredacted io.Writer
}

func newApp(stdout, stderr io.Writer) *app {
	dir, _ := os.Getwd()
	red := &redactor{}
	return &app{
		stdout:          &redactWriter{w: stdout, r: red},
		stderr:          &redactWriter{w: stderr, r: red},
		getenv:          os.Getenv,
		dir:             dir,
		resolve:         infra.Resolve,
		startContainers: containers.Start,
		probes:          doctor.DefaultProbes(),
		executable:      os.Executable,
		isTerminal:      stdoutIsTerminal,
		now:             time.Now,
		leftovers:       openRegistry,
		red:             red,
		unredacted:      stdout,
	}
}

// usage is what an attendee sees. Maintainer commands are in maintainerUsage, behind `checker help dev`.
const usage = `usage: checker [--instructor] <command> [arguments]

commands:
  list [--json]                  the labs, their steps and what is unlocked
  run N [--json] [--svg FILE]    run lab N against your code (its chaos stage too, once the tests pass);
                                 --svg writes the first failing test as a sequence diagram
  diagram N [TEST] [--svg FILE]  lab N's last run as a sequence diagram (the first failing test, or TEST)
  chaos N [--seed S] [--runs K]  run lab N's chaos stage: seeded faults against your code (--seed replays one)
  hint N [--all]                 the next hint for the step of lab N you are on (or all of them)
  solution N [--diff|--apply]    the reference solution of lab N and its follow-up, once lab N passed
  reset N                        back up your files of lab N and restore the starter
  catch-up N [--share]           bring this copy to the start of lab N: apply the solutions of the labs before it
  share [--off]                  keep your progress also in ` + progress.SharedFile + `, to commit for your mob
  doctor                         check Go, RabbitMQ, PostgreSQL and Docker
  clean [--older-than D]         remove the queues, exchanges and schemas your test runs left behind
  containers                     start or reuse the kit's RabbitMQ and PostgreSQL containers (needs Docker)
  mob [--minutes M] NAME...      mob-programming rotation timer (no names: resume the saved rotation; --end stops it)

--instructor (or MSGLABS_INSTRUCTOR=1) unlocks every lab and solution.
On a terminal, checker without a command opens the interactive checker.
Exit codes: 0 ok, 1 a lab failing, 2 a problem of the machine or the services (nothing recorded), 3 not counted.
`

// maintainerUsage lists the kit maintainers' commands.
const maintainerUsage = `kit maintainers' commands (go run ./checker <command>):
  verify [N...] [--count K] [--json]
                                 the kit's self-test: starters fail as declared, solutions pass
  seal [--check]                 record (or check) the seals of lab tests, lab files, starters and shared/
  bench [--count K]              throughput of the lab 6 and 7 solutions next to raw amqp091-go
  dev check | dev readme         the kit's conventions as rules (check), or regenerate the README parts (readme)
  clean --older-than D           (instructor) remove every kit leftover older than D on the room's services

the instructor's room (ROOM.md):
  ` + room.Usage + `
`

// command is one subcommand of the checker.
type command func(a *app, ctx context.Context, args []string) int

// commands maps a subcommand to its function. Files that add a command register it in an init function, so the
// dispatch stays in one place.
var commands = map[string]command{
	"list":       (*app).cmdList,
	"run":        (*app).cmdRun,
	"verify":     (*app).cmdVerify,
	"doctor":     (*app).cmdDoctor,
	"hint":       (*app).cmdHint,
	"solution":   (*app).cmdSolution,
	"reset":      (*app).cmdReset,
	"seal":       (*app).cmdSeal,
	"containers": (*app).cmdContainers,
	"mob":        (*app).cmdMob,
	"bench":      (*app).cmdBench,
	"dev":        (*app).cmdDev,
	"clean":      (*app).cmdClean,
}

func (a *app) main(args []string) int {
	a.instructor = kit.InstructorFromEnv(a.getenv)
	if a.red != nil {
		a.red.add(a.getenv(infra.EnvAMQP), a.getenv(infra.EnvDatabase))
	}
	for len(args) > 0 && (args[0] == "--instructor" || args[0] == "-instructor") {
		a.instructor = true
		args = args[1:]
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		// After the first signal the commands wind down (the test binary's process group is killed); a second
		// one ends the checker the default way.
		<-ctx.Done()
		stop()
	}()
	if len(args) == 0 {
		if openTUI != nil && a.isTerminal() {
			return openTUI(a)
		}
		code := a.cmdList(ctx, nil)
		fmt.Fprint(a.stdout, "\n"+usage)
		return code
	}
	name, rest := args[0], args[1:]
	switch name {
	case "help", "-h", "--help", "-help":
		if len(rest) > 0 && rest[0] == "dev" {
			fmt.Fprint(a.stdout, maintainerUsage)
			return exitOK
		}
		fmt.Fprint(a.stdout, usage)
		return exitOK
	}
	if cmd, ok := commands[name]; ok {
		return cmd(a, ctx, rest)
	}
	fmt.Fprintf(a.stderr, "checker: unknown command %q\n\n%s", name, usage)
	return exitEnv
}

// flags makes a flag set for a command; every command accepts --instructor.
func (a *app) flags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("checker "+name, flag.ContinueOnError)
	fs.SetOutput(a.stderr)
	fs.BoolFunc("instructor", "unlock every lab and solution", func(string) error {
		a.instructor = true
		return nil
	})
	return fs
}

// parse parses flags that may come before or after the positional arguments, and returns the positionals.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// labArg parses exactly one lab number.
func (a *app) labArg(cmd string, pos []string) (int, bool) {
	if len(pos) != 1 {
		fmt.Fprintf(a.stderr, "checker %s: want one lab number, e.g. `checker %s 3`\n", cmd, cmd)
		return 0, false
	}
	n, err := strconv.Atoi(strings.TrimPrefix(strings.ToLower(pos[0]), "lab-"))
	if err != nil || n <= 0 {
		fmt.Fprintf(a.stderr, "checker %s: %q is not a lab number\n", cmd, pos[0])
		return 0, false
	}
	return n, true
}

// open opens the kit, printing the error (and warnings) on stderr.
func (a *app) open() (*kit.Kit, bool) {
	k, err := kit.Open(a.dir, a.instructor)
	if err != nil {
		fmt.Fprintf(a.stderr, "checker: %v\n", err)
		return nil, false
	}
	for _, w := range k.Warnings {
		fmt.Fprintf(a.stderr, "checker: warning: %s\n", w)
	}
	return k, true
}

// resolveInfra finds the services; on failure it prints one line and returns false.
func (a *app) resolveInfra(ctx context.Context) (infra.Endpoints, bool) {
	eps, err := a.resolve(ctx)
	if err != nil {
		fmt.Fprintln(a.stderr, infraLine(err))
		return infra.Endpoints{}, false
	}
	if a.red != nil {
		a.red.add(eps.AMQP.URL, eps.Database.URL)
	}
	return eps, true
}

// infraLine turns a resolution error (one line per unreachable service) into the one line the user sees.
func infraLine(err error) string { return report.Services(err) }

// redactor hides passwords in everything printed: the passwords of the URLs in use wherever they appear, and any
// user:password@ credentials, also in strings that do not parse as URLs (amqp://guest:ab#cd@host fails to parse, and
// an error message may echo it as it is).
type redactor struct {
	mu      sync.Mutex
	secrets []string
	// pieces mask what a URL parser's error echoes of a password it could not parse: Go splits
	// amqp://guest:ab#cd@host at the #, and says `parse "amqp://guest:ab": invalid port ":ab"`.
	pieces []*regexp.Regexp
}

// schemeCreds finds the password of a URL that does not parse (it runs from the user's colon to the next @).
var schemeCreds = regexp.MustCompile(`(://[^\s:/@]+:)[^\s@]+@`)

// mask is what a password becomes.
const mask = "***"

func (r *redactor) add(urls ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, raw := range urls {
		for _, p := range passwords(raw) {
			r.secrets = append(r.secrets, ":"+p+"@", ":"+url.QueryEscape(p)+"@")
			if i := strings.IndexAny(p, "#?/"); i > 0 {
				r.pieces = append(r.pieces, regexp.MustCompile(`:`+regexp.QuoteMeta(p[:i])+`(["'\s]|$)`))
			}
		}
	}
}

// passwords returns the password of a URL, also of one that does not parse.
func passwords(raw string) []string {
	if u, err := url.Parse(raw); err == nil && u.User != nil {
		if p, ok := u.User.Password(); ok && p != "" {
			return []string{p}
		}
		return nil
	}
	var out []string
	for _, m := range schemeCreds.FindAllStringSubmatchIndex(raw, -1) {
		if p := raw[m[3] : m[1]-1]; p != mask {
			out = append(out, p)
		}
	}
	return out
}

func (r *redactor) apply(s string) string {
	r.mu.Lock()
	secrets, pieces := r.secrets, r.pieces
	r.mu.Unlock()
	for _, sec := range secrets {
		s = strings.ReplaceAll(s, sec, ":"+mask+"@")
	}
	for _, piece := range pieces {
		s = piece.ReplaceAllString(s, ":"+mask+"$1")
	}
	return infra.RedactText(s)
}

// redactWriter writes through a redactor. Callers write whole lines, so a secret is never split across writes.
type redactWriter struct {
	w io.Writer
	r *redactor
}

func (w *redactWriter) Write(p []byte) (int, error) {
	s := w.r.apply(string(p))
	if _, err := io.WriteString(w.w, s); err != nil {
		return 0, err
	}
	return len(p), nil
}

func stdoutIsTerminal() bool {
	fi, err := os.Stdout.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// usageErr reports a flag parsing error: flag has printed it already.
func usageErr(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	return exitEnv
}
