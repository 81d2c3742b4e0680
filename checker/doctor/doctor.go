// Package doctor checks the attendee's machine: Go, RabbitMQ, PostgreSQL and Docker, all at once, each bounded: two
// seconds to connect, and for RabbitMQ up to five more for the AMQP handshake, since the broker answers a refused
// login only after a delay of about three seconds. A failure says what the service said (ACCESS_REFUSED, no such
// vhost, the database refusing the login) and the fix, with passwords masked.
package doctor

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	amqp "github.com/rabbitmq/amqp091-go"

	"msglabs/shared/infra"
)

// ProbeTimeout bounds every check's connection, and every check but RabbitMQ's.
const ProbeTimeout = 2 * time.Second

// HandshakeTimeout bounds RabbitMQ's AMQP handshake once the TCP connection is up. RabbitMQ holds back its answer
// to a wrong password for about three seconds (against password guessing).
const HandshakeTimeout = 5 * time.Second

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
	bounded := func(i int, limit time.Duration, f func(ctx context.Context) Check) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(ctx, limit)
			defer cancel()
			checks[i] = f(ctx)
		}()
	}
	bounded(0, ProbeTimeout, func(ctx context.Context) Check {
		c := Check{Name: "Go", Required: true}
		v, err := p.GoVersion(ctx)
		if err != nil {
			c.Detail, c.Fix = err.Error(), "install Go from https://go.dev/dl/ and put it on PATH"
			return c
		}
		c.OK, c.Detail = true, v
		return c
	})
	bounded(1, ProbeTimeout+HandshakeTimeout, func(ctx context.Context) Check {
		return service(ctx, infra.RabbitMQ, p.Getenv, p.RabbitMQ)
	})
	bounded(2, ProbeTimeout, func(ctx context.Context) Check {
		return service(ctx, infra.PostgreSQL, p.Getenv, p.Postgres)
	})
	bounded(3, ProbeTimeout, func(ctx context.Context) Check {
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
		d := diagnose(svc, url, from, err)
		c.Detail, c.Fix = d.cause, d.fix
		return c
	}
	c.OK, c.Detail = true, fmt.Sprintf("%s at %s (%s)", v, Mask(url), from)
	return c
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

// RabbitMQVersion connects to the broker, waits for the AMQP handshake (the login) and returns the version the
// broker announces. It connects within ProbeTimeout and gives the handshake HandshakeTimeout; a refused login comes
// back as the broker's *amqp.Error (ACCESS_REFUSED, NOT_ALLOWED), a handshake that never finishes as ErrHandshake.
func RabbitMQVersion(ctx context.Context, url string) (string, error) {
	return rabbitMQVersion(ctx, url, HandshakeTimeout)
}

func rabbitMQVersion(ctx context.Context, url string, handshake time.Duration) (string, error) {
	type result struct {
		v   string
		err error
	}
	var connected atomic.Bool
	dial := func(network, addr string) (net.Conn, error) {
		conn, err := net.DialTimeout(network, addr, ProbeTimeout)
		if err != nil {
			return nil, err
		}
		connected.Store(true)
		// Cleared by amqp091-go once the connection is open; until then it bounds the handshake.
		return conn, conn.SetDeadline(time.Now().Add(handshake))
	}
	ch := make(chan result, 1)
	go func() {
		conn, err := amqp.DialConfig(url, amqp.Config{Dial: dial, Properties: amqp.Table{"connection_name": "msglabs doctor"}})
		// amqp091-go reports a read that hit the deadline as a frame error whose reason is the i/o timeout.
		if err != nil && connected.Load() && (isTimeout(err) || strings.Contains(err.Error(), "i/o timeout")) {
			err = fmt.Errorf("%w within %s", ErrHandshake, handshake)
		}
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
		if connected.Load() {
			return "", fmt.Errorf("%w within %s", ErrHandshake, handshake)
		}
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
