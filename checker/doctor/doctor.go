// Package doctor checks the attendee's machine: Go, RabbitMQ, PostgreSQL and Docker, each in at most two seconds
// and all at once.
package doctor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	amqp "github.com/rabbitmq/amqp091-go"

	"msglabs/shared/infra"
)

// ProbeTimeout bounds every check.
const ProbeTimeout = 2 * time.Second

// Check is the result of one check.
type Check struct {
	Name     string `json:"name"`
	OK       bool   `json:"ok"`
	Detail   string `json:"detail"`        // what was found, or what went wrong; URLs redacted
	Fix      string `json:"fix,omitempty"` // what to do when not OK
	Required bool   `json:"required"`      // the labs cannot run without it
}

// Probes are the ways the checks look at the machine; tests replace them.
type Probes struct {
	Getenv    func(string) string
	GoVersion func(ctx context.Context) (string, error)
	RabbitMQ  func(ctx context.Context, url string) (version string, err error)
	Postgres  func(ctx context.Context, url string) (version string, err error)
	Docker    func(ctx context.Context) bool
}

// DefaultProbes look at the real machine.
func DefaultProbes() Probes {
	return Probes{Getenv: os.Getenv, GoVersion: GoVersion, RabbitMQ: RabbitMQVersion, Postgres: PostgresVersion,
		Docker: infra.DockerAvailable}
}

// Run performs every check concurrently and returns them in a fixed order: Go, RabbitMQ, PostgreSQL, Docker.
func Run(ctx context.Context, p Probes) []Check {
	checks := make([]Check, 4)
	var dockerUp bool
	var wg sync.WaitGroup
	bounded := func(i int, f func(ctx context.Context) Check) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(ctx, ProbeTimeout)
			defer cancel()
			checks[i] = f(ctx)
		}()
	}
	bounded(0, func(ctx context.Context) Check {
		c := Check{Name: "Go", Required: true}
		v, err := p.GoVersion(ctx)
		if err != nil {
			c.Detail, c.Fix = err.Error(), "install Go from https://go.dev/dl/ and put it on PATH"
			return c
		}
		c.OK, c.Detail = true, v
		return c
	})
	bounded(1, func(ctx context.Context) Check {
		return service(ctx, infra.RabbitMQ, p.Getenv, p.RabbitMQ)
	})
	bounded(2, func(ctx context.Context) Check {
		return service(ctx, infra.PostgreSQL, p.Getenv, p.Postgres)
	})
	bounded(3, func(ctx context.Context) Check {
		c := Check{Name: "Docker", Detail: "not available (optional: only needed when RabbitMQ/PostgreSQL are not installed)",
			Fix: "install Docker, or run RabbitMQ and PostgreSQL some other way"}
		if p.Docker(ctx) {
			dockerUp = true
			c.OK, c.Detail, c.Fix = true, "engine answers", ""
		}
		return c
	})
	wg.Wait()
	for i := 1; i <= 2; i++ {
		svc := infra.RabbitMQ
		if i == 2 {
			svc = infra.PostgreSQL
		}
		if !checks[i].OK && dockerUp && p.Getenv(svc.EnvVar) == "" {
			// Resolution falls back to containers, so the labs will run anyway.
			checks[i].Required = false
			checks[i].Fix = "none needed: Docker answers, so the checker starts a container on the first run (or run `make up` now)"
		}
	}
	return checks
}

func service(ctx context.Context, svc infra.Service, getenv func(string) string, probe func(context.Context, string) (string, error)) Check {
	c := Check{Name: svc.Name, Required: true}
	url, from := getenv(svc.EnvVar), svc.EnvVar
	if url == "" {
		url, from = svc.Default, "local default"
	}
	v, err := probe(ctx, url)
	if err != nil {
		c.Detail = fmt.Sprintf("not reachable at %s (%s): %s", infra.Redact(url), from, redactErr(err, url))
		if from == svc.EnvVar {
			c.Fix = "start it, or correct " + svc.EnvVar
		} else {
			c.Fix = "run `make up`, or set " + svc.EnvVar
		}
		return c
	}
	c.OK, c.Detail = true, fmt.Sprintf("%s at %s (%s)", v, infra.Redact(url), from)
	return c
}

// redactErr removes the URL's password from an error message that may quote the URL.
func redactErr(err error, url string) string {
	msg := err.Error()
	if errors.Is(err, context.DeadlineExceeded) {
		msg = "no answer within " + ProbeTimeout.String()
	}
	if url != "" {
		msg = strings.ReplaceAll(msg, url, infra.Redact(url))
	}
	return msg
}

// Failed reports whether a required check failed.
func Failed(checks []Check) bool {
	for _, c := range checks {
		if c.Required && !c.OK {
			return true
		}
	}
	return false
}

// GoVersion runs `go version`.
func GoVersion(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "version").Output()
	if err != nil {
		return "", fmt.Errorf("go version: %w", err)
	}
	return strings.TrimPrefix(strings.TrimSpace(string(out)), "go version "), nil
}

// RabbitMQVersion connects to the broker and returns the version it announces.
func RabbitMQVersion(ctx context.Context, url string) (string, error) {
	timeout := ProbeTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	type result struct {
		v   string
		err error
	}
	ch := make(chan result, 1)
	go func() {
		conn, err := amqp.DialConfig(url, amqp.Config{Dial: amqp.DefaultDial(timeout), Properties: amqp.Table{"connection_name": "msglabs doctor"}})
		if err != nil {
			ch <- result{err: err}
			return
		}
		defer conn.Close()
		v, _ := conn.Properties["version"].(string)
		if v == "" {
			v = "unknown version"
		}
		ch <- result{v: "RabbitMQ " + v}
	}()
	select {
	case r := <-ch:
		return r.v, r.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// PostgresVersion connects to the server and returns `SHOW server_version`.
func PostgresVersion(ctx context.Context, url string) (string, error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return "", err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var v string
	if err := conn.QueryRow(ctx, "SHOW server_version").Scan(&v); err != nil {
		return "", err
	}
	return "PostgreSQL " + v, nil
}
