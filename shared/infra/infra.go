// Package infra finds the RabbitMQ broker and the PostgreSQL server the labs run against.
//
// The order is always the same, so that a lab behaves alike on an attendee's laptop, in a workshop room pointing at
// the instructor's broker, and in CI:
//
//  1. MSGLABS_AMQP_URL / MSGLABS_DATABASE_URL, when set, are used as they are (and an unreachable one is an error
//     that names the variable: we never silently fall back from what the user asked for);
//  2. otherwise the local defaults, when something answers there;
//  3. otherwise, when a Docker engine answers, containers started by the checker (see package containers);
//  4. otherwise an error that says what to do.
package infra

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"
)

// Environment variables that point the kit at its services.
const (
	EnvAMQP     = "MSGLABS_AMQP_URL"
	EnvDatabase = "MSGLABS_DATABASE_URL"
)

// Local defaults, tried when no variable is set.
const (
	DefaultAMQP     = "amqp://guest:guest@127.0.0.1:5672/"
	DefaultDatabase = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
)

// dialTimeout bounds one reachability probe; a local service answers in well under a millisecond.
const dialTimeout = 700 * time.Millisecond

// ErrUnreachable is wrapped by every error Resolve returns for a service that cannot be reached.
var ErrUnreachable = errors.New("service unreachable")

// Source says where an endpoint came from.
type Source string

// The places an endpoint can come from.
const (
	FromEnv    Source = "environment"
	FromLocal  Source = "local default"
	FromDocker Source = "docker"
)

// Service names one of the two services the kit needs.
type Service struct {
	Name    string // "RabbitMQ"
	EnvVar  string // "MSGLABS_AMQP_URL"
	Default string // the local default URL
}

// The two services.
var (
	RabbitMQ   = Service{Name: "RabbitMQ", EnvVar: EnvAMQP, Default: DefaultAMQP}
	PostgreSQL = Service{Name: "PostgreSQL", EnvVar: EnvDatabase, Default: DefaultDatabase}
)

// Endpoint is a resolved service address.
type Endpoint struct {
	URL    string
	Source Source
}

// Probes are the checks Decide needs; tests replace them, Resolve uses the real ones.
type Probes struct {
	Getenv    func(string) string
	Reachable func(ctx context.Context, rawURL string) error
	Docker    func(ctx context.Context) bool
}

// Decision is what Decide concluded for one service: use URL, start a container, or fail with Err.
type Decision struct {
	Endpoint
	StartContainer bool
	Err            error
}

// Decide applies the resolution order for one service. It is pure apart from the probes, so it is unit-tested.
func Decide(ctx context.Context, svc Service, p Probes) Decision {
	if v := p.Getenv(svc.EnvVar); v != "" {
		if err := p.Reachable(ctx, v); err != nil {
			return Decision{Err: fmt.Errorf("%w: %s is not reachable at %s (from %s): %v; fix: start it, or correct %s",
				ErrUnreachable, svc.Name, Redact(v), svc.EnvVar, err, svc.EnvVar)}
		}
		return Decision{Endpoint: Endpoint{URL: v, Source: FromEnv}}
	}
	err := p.Reachable(ctx, svc.Default)
	if err == nil {
		return Decision{Endpoint: Endpoint{URL: svc.Default, Source: FromLocal}}
	}
	if p.Docker != nil && p.Docker(ctx) {
		return Decision{StartContainer: true, Endpoint: Endpoint{Source: FromDocker}}
	}
	return Decision{Err: fmt.Errorf("%w: %s is not reachable at %s (%v) and no Docker engine answers; fix: run `make up`, or set %s",
		ErrUnreachable, svc.Name, Redact(svc.Default), shortErr(err), svc.EnvVar)}
}

// DefaultProbes are the real probes: environment variables, a TCP dial, and the Docker socket.
func DefaultProbes() Probes {
	return Probes{Getenv: os.Getenv, Reachable: DialTCP, Docker: DockerAvailable}
}

// DialTCP reports whether something accepts TCP connections at the URL's host and port.
func DialTCP(ctx context.Context, rawURL string) error {
	addr, err := HostPort(rawURL)
	if err != nil {
		return err
	}
	d := net.Dialer{Timeout: dialTimeout}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	return c.Close()
}

// ErrBadURL is wrapped by HostPort's error for a URL that does not parse.
var ErrBadURL = errors.New("not a valid URL (a user or password holding ? # @ : or / must be percent-encoded, e.g. # as %23)")

// HostPort returns host:port of an amqp:// or postgres:// URL, filling in the scheme's default port. The error for a
// URL that does not parse names it redacted, and not the parser's words (which quote a password cut short at a #).
func HostPort(rawURL string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", fmt.Errorf("%s: %w", Redact(rawURL), ErrBadURL)
	}
	host, port := u.Hostname(), u.Port()
	if host == "" {
		host = "127.0.0.1"
	}
	if port == "" {
		switch u.Scheme {
		case "amqp":
			port = "5672"
		case "amqps":
			port = "5671"
		case "postgres", "postgresql":
			port = "5432"
		default:
			return "", fmt.Errorf("url %q has no port and an unknown scheme", Redact(rawURL))
		}
	}
	return net.JoinHostPort(host, port), nil
}

// Redact replaces the password in a URL with ***, for every line the kit prints. A URL that does not parse is
// redacted as text (RedactText).
func Redact(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return RedactText(rawURL)
	}
	if u.User == nil {
		return rawURL
	}
	if _, has := u.User.Password(); !has {
		return rawURL
	}
	u.User = url.UserPassword(u.User.Username(), "redacted")
	return strings.Replace(u.String(), ":redacted@", ":***@", 1)
}

func shortErr(err error) string {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err.Error()
	}
	return err.Error()
}

// Patterns of credentials in free text: "scheme://user:password@" (the password runs to the token's last @),
// "scheme://user:password" cut short (by a # or ?, as a parser's message quotes it: not a port, since it is not all
// digits), and a bare "user:password@host".
var (
	schemeCredentials = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.-]*://)([^\s"'/@:]*):[^\s"']*@`)
	schemeCutPassword = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.-]*://)([^\s"'/@:]+):([^\s"'/@]*[^\s"'/@0-9*][^\s"'/@]*)`)
	bareCredentials   = regexp.MustCompile(`(^|[\s"'(=])([^\s"'/@:()=]+):[^\s"'/][^\s"']*@`)
)

// RedactText masks every password in s that looks like part of a URL or a user:password@host pair, also where the
// URL does not parse ("amqp://guest:ab#cd@host" → "amqp://guest:***@host"). Use it on any text that may quote a URL.
func RedactText(s string) string {
	s = schemeCredentials.ReplaceAllString(s, "${1}${2}:***@")
	s = schemeCutPassword.ReplaceAllString(s, "${1}${2}:***")
	return bareCredentials.ReplaceAllString(s, "${1}${2}:***@")
}
