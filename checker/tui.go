package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"msglabs/checker/doctor"
	"msglabs/checker/kit"
	"msglabs/checker/tui"
	"msglabs/shared/infra"
)

// processStart is when the checker started, to measure the time to the TUI's first frame.
var processStart = time.Now()

// EnvTrace names a file the TUI appends its start-up timing to ("first frame after 12ms").
const EnvTrace = "MSGLABS_TUI_TRACE"

func init() { openTUI = runTUI }

// runTUI opens the interactive checker on the terminal: the same kit, progress and runs as the commands.
func runTUI(a *app) int {
	// Warnings (lab folders not ready yet) are not printed: they would stay on the terminal after the TUI,
	// and the lab list says how many labs are not there yet.
	k, err := kit.Open(a.dir, a.instructor)
	if err != nil {
		fmt.Fprintf(a.stderr, "checker: %v\n", err)
		return exitEnv
	}
	self, _ := a.executable()
	probes := a.probes
	opts := tui.Options{
		Kit: k,
		Resolve: func(ctx context.Context) (infra.Endpoints, error) {
			eps, err := a.resolveFresh(ctx)
			if err == nil && a.red != nil {
				a.red.add(eps.AMQP.URL, eps.Database.URL)
			}
			return eps, err
		},
		Doctor:  func(ctx context.Context) []doctor.Check { return doctor.Run(ctx, a.probes) },
		Probes:  &probes,
		Owner:   a.owner(k.Root),
		Checker: self,
		Report:  a.reportOptions(k),
		Sweep:   func(ctx context.Context, eps infra.Endpoints) func() { return a.sweep(ctx, eps, k.Root) },
		Announce: func(ctx context.Context, li kit.LabInfo, eps infra.Endpoints, res *kit.RunResult, warn io.Writer) {
			a.announceRun(ctx, li, eps.AMQP.URL, res, warn)
		},
		Getenv:  a.getenv,
		Bell:    os.Stderr,
		Started: processStart,
	}
	if path := a.getenv(EnvTrace); path != "" {
		opts.OnFirstFrame = func(d time.Duration) {
			if f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
				fmt.Fprintf(f, "first frame after %s\n", d.Round(time.Microsecond))
				f.Close()
			}
		}
	}
	if err := tui.Run(opts); err != nil {
		fmt.Fprintf(a.stderr, "checker: %v\n", err)
		return exitEnv
	}
	return exitOK
}

// resolveFresh finds the services like infra.Resolve, without its once-per-process memory: the TUI lives long, and
// an attendee who starts RabbitMQ after a failed run must not have to restart it. (Success is remembered by the TUI.)
func (a *app) resolveFresh(ctx context.Context) (infra.Endpoints, error) {
	p := infra.DefaultProbes()
	p.Getenv = a.getenv
	mq, db := infra.Decide(ctx, infra.RabbitMQ, p), infra.Decide(ctx, infra.PostgreSQL, p)
	if err := errors.Join(mq.Err, db.Err); err != nil {
		return infra.Endpoints{}, err
	}
	eps := infra.Endpoints{AMQP: mq.Endpoint, Database: db.Endpoint}
	if !mq.StartContainer && !db.StartContainer {
		return eps, nil
	}
	started, err := a.startContainers(ctx)
	if err != nil {
		return infra.Endpoints{}, fmt.Errorf("%w: start containers: %v; fix: run `make up`, or set %s and %s",
			infra.ErrUnreachable, err, infra.EnvAMQP, infra.EnvDatabase)
	}
	if mq.StartContainer {
		eps.AMQP = started.AMQP
	}
	if db.StartContainer {
		eps.Database = started.Database
	}
	return eps, nil
}
