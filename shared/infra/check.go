package infra

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	amqp "github.com/rabbitmq/amqp091-go"
)

// Problem is an environment problem worded for a person: which service, what it said, and the fix. Its Error is
// "<what>: <fix>"; it never holds a password. A Problem wraps ErrUnreachable when the service could not be reached
// at all, and ErrRefused when it answered and said no.
type Problem struct {
	Service Service
	What    string // `RabbitMQ refused the login for user "ann" (ACCESS_REFUSED)`
	Fix     string // "check the user and password in MSGLABS_AMQP_URL"
	Err     error  // ErrUnreachable or ErrRefused, joined with the cause
}

func (p *Problem) Error() string { return p.What + ": " + p.Fix }
func (p *Problem) Unwrap() error { return p.Err }

// ErrRefused is wrapped by a Problem for a service that answered but would not let the kit in (login, vhost,
// database).
var ErrRefused = errors.New("service refused the kit")

// AMQP reply codes the broker gives for a handshake it refuses (AMQP 0-9-1 constants).
const (
	replyAccessRefused = 403 // ACCESS_REFUSED: wrong user or password, or guest from another host
	replyNotAllowed    = 530 // NOT_ALLOWED: no such vhost, or no permission on it
)

// PostgreSQL error codes for a refused connection (SQLSTATE class 28 and 3D, 53).
const (
	sqlInvalidPassword      = "28P01"
	sqlInvalidAuthorization = "28000" // no such role, or pg_hba.conf has no entry for this client
	sqlNoDatabase           = "3D000"
	sqlTooManyConnections   = "53300"
)

// CheckAMQP opens and closes one AMQP connection to ep, so that a refused login or a missing vhost is found at the
// start of a test, not as a timeout later. It returns nil or a *Problem.
func CheckAMQP(ctx context.Context, ep Endpoint) error {
	conn, err := amqp.DialConfig(ep.URL, amqp.Config{
		Properties: amqp.Table{"connection_name": "msglabs check"},
		Dial:       amqp.DefaultDial(dialTimeout),
	})
	if err == nil {
		return conn.Close()
	}
	return ExplainAMQP(ep, err)
}

// CheckDatabase opens and closes one PostgreSQL connection to ep; it returns nil or a *Problem.
func CheckDatabase(ctx context.Context, ep Endpoint) error {
	conn, err := pgx.Connect(ctx, ep.URL)
	if err == nil {
		return conn.Close(ctx)
	}
	return ExplainDatabase(ep, err)
}

// ExplainAMQP words an error from dialling the broker at ep.
func ExplainAMQP(ep Endpoint, err error) *Problem {
	user, host, vhost := urlParts(ep.URL)
	p := &Problem{Service: RabbitMQ, Err: errors.Join(ErrRefused, err)}
	var amqpErr *amqp.Error
	switch {
	case errors.As(err, &amqpErr) && amqpErr.Code == replyAccessRefused:
		p.What = fmt.Sprintf("RabbitMQ refused the login for user %q (ACCESS_REFUSED)", user)
		p.Fix = "check the user and password in " + where(RabbitMQ, ep)
		if user == "guest" && !loopback(host) {
			p.Fix += `; RabbitMQ lets "guest" log in only from the broker's own machine, so a room needs its own user`
		}
	case errors.As(err, &amqpErr) && amqpErr.Code == replyNotAllowed && strings.Contains(amqpErr.Reason, "not found"):
		p.What = fmt.Sprintf("RabbitMQ has no virtual host %q (NOT_ALLOWED)", vhost)
		p.Fix = fmt.Sprintf("check the vhost at the end of %s, or create it: rabbitmqctl add_vhost %s", where(RabbitMQ, ep), vhost)
	case errors.As(err, &amqpErr) && amqpErr.Code == replyNotAllowed:
		p.What = fmt.Sprintf("RabbitMQ did not let user %q use virtual host %q (NOT_ALLOWED: %s)", user, vhost, amqpErr.Reason)
		p.Fix = fmt.Sprintf("give the user permissions: rabbitmqctl set_permissions -p %s %s '.*' '.*' '.*'", vhost, user)
	default:
		return unreachable(RabbitMQ, ep, err)
	}
	return p
}

// ExplainDatabase words an error from connecting to the database at ep.
func ExplainDatabase(ep Endpoint, err error) *Problem {
	user, _, db := urlParts(ep.URL)
	p := &Problem{Service: PostgreSQL, Err: errors.Join(ErrRefused, err)}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return unreachable(PostgreSQL, ep, err)
	}
	switch pgErr.Code {
	case sqlInvalidPassword:
		p.What = fmt.Sprintf("PostgreSQL refused the login for user %q (wrong password, SQLSTATE %s)", user, pgErr.Code)
		p.Fix = "check the user and password in " + where(PostgreSQL, ep)
	case sqlInvalidAuthorization:
		p.What = fmt.Sprintf("PostgreSQL refused the login for user %q (%s, SQLSTATE %s)", user, pgErr.Message, pgErr.Code)
		p.Fix = "check the user in " + where(PostgreSQL, ep) + ", or create the role (CREATE ROLE … LOGIN PASSWORD …)"
	case sqlNoDatabase:
		p.What = fmt.Sprintf("PostgreSQL has no database %q (SQLSTATE %s)", db, pgErr.Code)
		p.Fix = fmt.Sprintf("check the database at the end of %s, or create it: createdb %s", where(PostgreSQL, ep), db)
	case sqlTooManyConnections:
		p.What = fmt.Sprintf("PostgreSQL has no connection slot left (SQLSTATE %s)", pgErr.Code)
		p.Fix = "wait for other runs to finish and run again, or raise max_connections"
	default:
		p.What = fmt.Sprintf("PostgreSQL refused the connection: %s (SQLSTATE %s)", pgErr.Message, pgErr.Code)
		p.Fix = "check " + where(PostgreSQL, ep)
	}
	return p
}

// unreachable words a service that did not answer at all (or not in its own protocol).
func unreachable(svc Service, ep Endpoint, err error) *Problem {
	addr, _ := HostPort(ep.URL)
	p := &Problem{Service: svc, Err: errors.Join(ErrUnreachable, err)}
	var op *net.OpError
	if errors.As(err, &op) {
		p.What = fmt.Sprintf("%s is not reachable at %s (%s)", svc.Name, addr, shortErr(err))
	} else {
		p.What = fmt.Sprintf("%s at %s did not complete the handshake (%s)", svc.Name, addr, redactErr(err, ep.URL))
	}
	p.Fix = "start it (`make up`, or `make doctor` to see what is wrong), or correct " + where(svc, ep)
	return p
}

// where names the setting an endpoint came from, for a fix: the variable, or the local default it fell back to.
func where(svc Service, ep Endpoint) string {
	if ep.Source == FromLocal {
		return fmt.Sprintf("%s (unset: the local default %s was used)", svc.EnvVar, Redact(ep.URL))
	}
	return svc.EnvVar
}

// urlParts returns the user, the host and the path's first segment (the vhost or database) of a URL.
func urlParts(rawURL string) (user, host, path string) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", "", ""
	}
	if u.User != nil {
		user = u.User.Username()
	}
	path = strings.TrimPrefix(u.Path, "/")
	if path == "" && (u.Scheme == "amqp" || u.Scheme == "amqps") {
		path = "/"
	}
	return user, u.Hostname(), path
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// redactErr removes the URL's password from an error's text, should a library have quoted the URL.
func redactErr(err error, rawURL string) string {
	msg := RedactText(err.Error())
	if u, perr := url.Parse(rawURL); perr == nil && u.User != nil {
		if pw, ok := u.User.Password(); ok && pw != "" {
			msg = strings.ReplaceAll(msg, pw, "***")
		}
	}
	return msg
}
