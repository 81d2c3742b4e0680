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
	"strconv"
	"strings"
	"sync"
	"time"

	"msglabs/checker/containers"
	"msglabs/checker/doctor"
	"msglabs/checker/kit"
	"msglabs/shared/infra"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailing = 1
	exitEnv     = 2
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
	instructor      bool
	red             *redactor
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
		red:             red,
	}
}

const usage = `usage: checker [--instructor] <command> [arguments]

commands:
  list [--json]                  the labs and what is unlocked
  run N [--json]                 run lab N against your code
  hint N [--all]                 the next hint for lab N (or all of them)
  solution N [--diff|--apply]    the reference solution of lab N, once lab N passed
  reset N                        back up your files of lab N and restore the starter
  doctor                         check Go, RabbitMQ, PostgreSQL and Docker
  verify [N...] [--count K] [--json]
                                 the kit's self-test: starters fail as declared, solutions pass
  seal [--check]                 record (or check) the hashes of lab tests and starters (kit maintainers)
  containers                     start or reuse the kit's RabbitMQ and PostgreSQL containers (needs Docker)
  bench [--count K]              throughput of the lab 6 and 7 solutions next to raw amqp091-go (maintainers)
  mob [--minutes M] NAME...      mob-programming rotation timer (no names: resume the saved rotation; --end stops it)

--instructor (or MSGLABS_INSTRUCTOR=1) unlocks every lab and solution.
On a terminal, checker without a command opens the interactive checker.
`

func (a *app) main(args []string) int {
	a.instructor = kit.InstructorFromEnv(a.getenv)
	if a.red != nil {
		a.red.add(a.getenv(infra.EnvAMQP), a.getenv(infra.EnvDatabase))
	}
	for len(args) > 0 && (args[0] == "--instructor" || args[0] == "-instructor") {
		a.instructor = true
		args = args[1:]
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if len(args) == 0 {
		if openTUI != nil && a.isTerminal() {
			return openTUI(a)
		}
		code := a.cmdList(ctx, nil)
		fmt.Fprint(a.stdout, "\n"+usage)
		return code
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "list":
		return a.cmdList(ctx, rest)
	case "run":
		return a.cmdRun(ctx, rest)
	case "verify":
		return a.cmdVerify(ctx, rest)
	case "doctor":
		return a.cmdDoctor(ctx, rest)
	case "hint":
		return a.cmdHint(ctx, rest)
	case "solution":
		return a.cmdSolution(ctx, rest)
	case "reset":
		return a.cmdReset(ctx, rest)
	case "seal":
		return a.cmdSeal(ctx, rest)
	case "dev":
		return a.cmdDev(ctx, rest)
	case "containers":
		return a.cmdContainers(ctx, rest)
	case "mob":
		return a.cmdMob(ctx, rest)
	case "bench":
		return a.cmdBench(ctx, rest)
	case "help", "-h", "--help", "-help":
		fmt.Fprint(a.stdout, usage)
		return exitOK
	}
	fmt.Fprintf(a.stderr, "checker: unknown command %q\n\n%s", cmd, usage)
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
func infraLine(err error) string {
	var parts []string
	for _, line := range strings.Split(err.Error(), "\n") {
		if line = strings.TrimSpace(strings.TrimPrefix(line, infra.ErrUnreachable.Error()+": ")); line != "" {
			parts = append(parts, line)
		}
	}
	return strings.Join(parts, " · ")
}

// redactor knows the passwords of the URLs in use and hides them in everything printed.
type redactor struct {
	mu      sync.Mutex
	secrets []string
}

func (r *redactor) add(urls ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, raw := range urls {
		u, err := url.Parse(raw)
		if err != nil || u.User == nil {
			continue
		}
		if p, ok := u.User.Password(); ok && p != "" {
			r.secrets = append(r.secrets, ":"+p+"@", ":"+url.QueryEscape(p)+"@")
		}
	}
}

func (r *redactor) apply(s string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, sec := range r.secrets {
		s = strings.ReplaceAll(s, sec, ":***@")
	}
	return s
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
