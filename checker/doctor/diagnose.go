package doctor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
	amqp "github.com/rabbitmq/amqp091-go"

	"msglabs/shared/infra"
)

// ErrHandshake says that the broker accepted the TCP connection but did not finish the AMQP handshake in time.
var ErrHandshake = errors.New("the AMQP handshake did not finish")

// PostgreSQL error codes a login can fail with.
const (
	pgInvalidAuthorization = "28000" // no such role, or pg_hba.conf refuses the host
	pgInvalidPassword      = "28P01"
	pgNoSuchDatabase       = "3D000"
)

// diagnosis is what a probe's failure means: the cause in a sentence, and the fix.
type diagnosis struct {
	cause, fix string
}

// diagnose explains why svc could not be used at rawURL (which came from `from`: the variable or the default).
// Nothing it returns contains the URL's password.
func diagnose(svc infra.Service, rawURL, from string, err error) diagnosis {
	where := Mask(rawURL)
	setFix := "start it, or correct " + svc.EnvVar
	if from != svc.EnvVar {
		setFix = "run `make up`, or set " + svc.EnvVar
	}
	if _, perr := url.Parse(rawURL); perr != nil {
		return diagnosis{
			cause: fmt.Sprintf("%s (%s) is not a valid URL: %s", where, from, urlProblem(perr)),
			fix:   "write it as " + example(svc) + ", with special characters of the password %-escaped (# is %23, @ is %40)",
		}
	}
	var amqpErr *amqp.Error
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &amqpErr) && amqpErr.Code == amqp.AccessRefused:
		return diagnosis{
			cause: fmt.Sprintf("RabbitMQ at %s refused the login of user %q (ACCESS_REFUSED: %s)", where, userOf(rawURL), amqpErr.Reason),
			fix: "put the room's user and password in " + svc.EnvVar + " (" + example(svc) + "); " +
				"guest/guest only works on the broker's own machine",
		}
	case errors.As(err, &amqpErr) && amqpErr.Code == amqp.NotAllowed && strings.Contains(amqpErr.Reason, "not found"):
		return diagnosis{
			cause: fmt.Sprintf("RabbitMQ at %s has no vhost %q (%s)", where, vhostOf(rawURL), amqpErr.Reason),
			fix:   "use the room's vhost in " + svc.EnvVar + " (the part after the port), or create it: rabbitmqctl add_vhost " + vhostOf(rawURL),
		}
	case errors.As(err, &amqpErr) && amqpErr.Code == amqp.NotAllowed:
		return diagnosis{
			cause: fmt.Sprintf("RabbitMQ at %s lets user %q log in but not into vhost %q (%s)", where, userOf(rawURL), vhostOf(rawURL), amqpErr.Reason),
			fix:   fmt.Sprintf("rabbitmqctl set_permissions -p %s %s '.*' '.*' '.*' (the instructor), or use the room's vhost", vhostOf(rawURL), userOf(rawURL)),
		}
	case errors.As(err, &pgErr) && (pgErr.Code == pgInvalidPassword || pgErr.Code == pgInvalidAuthorization):
		return diagnosis{
			cause: fmt.Sprintf("PostgreSQL at %s refused the login of user %q (%s, SQLSTATE %s)", where, userOf(rawURL), pgErr.Message, pgErr.Code),
			fix:   "put the room's user and password in " + svc.EnvVar + " (" + example(svc) + ")",
		}
	case errors.As(err, &pgErr) && pgErr.Code == pgNoSuchDatabase:
		return diagnosis{
			cause: fmt.Sprintf("PostgreSQL at %s has no database %q (%s)", where, databaseOf(rawURL), pgErr.Message),
			fix:   "use the room's database in " + svc.EnvVar + " (the part after the port), or create it: createdb " + databaseOf(rawURL),
		}
	case errors.Is(err, ErrHandshake):
		return diagnosis{
			cause: fmt.Sprintf("%s accepted the connection but did not finish the AMQP handshake within %s: is that port RabbitMQ's AMQP port?", where, HandshakeTimeout),
			fix:   "point " + svc.EnvVar + " at the AMQP port (5672), not the management UI (15672)",
		}
	}
	return diagnosis{cause: fmt.Sprintf("%s (%s) is not reachable: %s", where, from, netProblem(err, rawURL)), fix: setFix}
}

// netProblem says in words why a connection could not be made.
func netProblem(err error, rawURL string) string {
	var dns *net.DNSError
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "nothing listens on that port (connection refused)"
	case errors.As(err, &dns):
		return fmt.Sprintf("no host called %q (DNS)", dns.Name)
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		return "no answer within " + ProbeTimeout.String()
	}
	return oneLine(strings.ReplaceAll(err.Error(), rawURL, Mask(rawURL)))
}

// oneLine joins a multi-line error (pgx lists every address it tried) into one line.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func example(svc infra.Service) string {
	if svc.EnvVar == infra.EnvAMQP {
		return "amqp://user:password@host:5672/vhost"
	}
	return "postgres://user:password@host:5432/database"
}

// urlProblem is url.Parse's complaint when it quotes nothing: it quotes the URL, or a piece of it, which may be a
// piece of the password ("invalid port \":ab\" after host" for the password ab#cd).
func urlProblem(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) && !strings.ContainsAny(ue.Err.Error(), "\"'`") {
		return ue.Err.Error()
	}
	return "it does not parse"
}

func parsed(rawURL string) *url.URL {
	u, err := url.Parse(rawURL)
	if err != nil {
		return &url.URL{}
	}
	return u
}

func userOf(rawURL string) string {
	if u := parsed(rawURL).User; u != nil {
		return u.Username()
	}
	return ""
}

func vhostOf(rawURL string) string {
	if v := strings.TrimPrefix(parsed(rawURL).Path, "/"); v != "" {
		if unescaped, err := url.PathUnescape(v); err == nil {
			return unescaped
		}
		return v
	}
	return "/"
}

func databaseOf(rawURL string) string { return strings.TrimPrefix(parsed(rawURL).Path, "/") }

// userinfo finds "scheme://user:password@" even in a string that does not parse as a URL: a password with a # in
// it breaks url.Parse, and the unparsed text must not be printed as it is.
var userinfo = regexp.MustCompile(`([a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*):[^\s]*@`)

// Mask returns rawURL with its password replaced by ***, whether or not it parses.
func Mask(rawURL string) string {
	if _, err := url.Parse(rawURL); err == nil {
		return infra.Redact(rawURL)
	}
	return userinfo.ReplaceAllString(rawURL, "${1}:***@")
}

// Explain words why svc could not be used at rawURL: the cause in a sentence and the fix, the password masked. from
// says where the URL came from (svc.EnvVar, or "local default"). The checker's run uses it for its INFRA line, so
// doctor and a run say the same thing about the same failure.
func Explain(svc infra.Service, rawURL, from string, err error) (cause, fix string) {
	d := diagnose(svc, rawURL, from, err)
	return d.cause, d.fix
}
