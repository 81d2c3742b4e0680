package infra

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	amqp "github.com/rabbitmq/amqp091-go"
)

type fakeWorld struct {
	env    map[string]string
	up     map[string]bool // URL → reachable
	docker bool
}

func (w fakeWorld) probes() Probes {
	return Probes{
		Getenv: func(k string) string { return w.env[k] },
		Reachable: func(_ context.Context, u string) error {
			if w.up[u] {
				return nil
			}
			return errors.New("connection refused")
		},
		Docker: func(context.Context) bool { return w.docker },
	}
}

func TestDecide(t *testing.T) {
	custom := "amqp://ann:secret@broker.example:5672/"
	cases := []struct {
		name      string
		world     fakeWorld
		wantURL   string
		wantSrc   Source
		container bool
		wantErr   string
	}{
		{name: "env var wins", world: fakeWorld{env: map[string]string{EnvAMQP: custom}, up: map[string]bool{custom: true, DefaultAMQP: true}},
			wantURL: custom, wantSrc: FromEnv},
		{name: "env var unreachable is an error, no fallback", world: fakeWorld{env: map[string]string{EnvAMQP: custom}, up: map[string]bool{DefaultAMQP: true}, docker: true},
			wantErr: "correct MSGLABS_AMQP_URL"},
		{name: "local default", world: fakeWorld{up: map[string]bool{DefaultAMQP: true}, docker: true},
			wantURL: DefaultAMQP, wantSrc: FromLocal},
		{name: "docker when nothing local", world: fakeWorld{docker: true},
			wantSrc: FromDocker, container: true},
		{name: "nothing at all", world: fakeWorld{},
			wantErr: "make up"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := Decide(context.Background(), RabbitMQ, tc.world.probes())
			if tc.wantErr != "" {
				if d.Err == nil || !strings.Contains(d.Err.Error(), tc.wantErr) || !errors.Is(d.Err, ErrUnreachable) {
					t.Fatalf("err = %v, want one mentioning %q wrapping ErrUnreachable", d.Err, tc.wantErr)
				}
				if strings.Contains(d.Err.Error(), "secret") {
					t.Fatalf("error leaks the password: %v", d.Err)
				}
				return
			}
			if d.Err != nil || d.URL != tc.wantURL || d.Source != tc.wantSrc || d.StartContainer != tc.container {
				t.Fatalf("got %+v, want url=%q source=%q container=%v", d, tc.wantURL, tc.wantSrc, tc.container)
			}
		})
	}
}

func TestResolveStartsContainersOnlyWhenNeeded(t *testing.T) {
	w := fakeWorld{up: map[string]bool{DefaultDatabase: true}, docker: true}
	calls := 0
	start := func(context.Context) (Endpoints, error) {
		calls++
		return Endpoints{AMQP: Endpoint{URL: "amqp://guest:guest@127.0.0.1:32771/", Source: FromDocker},
			Database: Endpoint{URL: "postgres://postgres@127.0.0.1:32772/postgres", Source: FromDocker}}, nil
	}
	eps, err := resolve(context.Background(), w.probes(), start)
	if err != nil {
		t.Fatal(err)
	}
	if calls != 1 || eps.AMQP.Source != FromDocker || eps.Database.URL != DefaultDatabase {
		t.Fatalf("calls=%d eps=%+v: want the container broker and the local database", calls, eps)
	}
	w.up[DefaultAMQP] = true
	calls = 0
	if _, err := resolve(context.Background(), w.probes(), start); err != nil || calls != 0 {
		t.Fatalf("calls=%d err=%v: nothing should start when both are local", calls, err)
	}
}

func TestRedact(t *testing.T) {
	if got := Redact("amqp://guest:guest@127.0.0.1:5672/"); got != "amqp://guest:***@127.0.0.1:5672/" {
		t.Fatalf("Redact = %q", got)
	}
	if got := Redact("postgres://postgres@127.0.0.1:5432/postgres"); got != "postgres://postgres@127.0.0.1:5432/postgres" {
		t.Fatalf("Redact changed a URL without password: %q", got)
	}
}

func TestHostPortAndSocket(t *testing.T) {
	for in, want := range map[string]string{
		"amqp://h/": "h:5672", "postgres://u@db/x": "db:5432", "amqp://127.0.0.1:1234/": "127.0.0.1:1234",
	} {
		if got, err := HostPort(in); err != nil || got != want {
			t.Errorf("HostPort(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if DockerSocket("tcp://1.2.3.4:2375") != "" || DockerSocket("") != "/var/run/docker.sock" || DockerSocket("unix:///x.sock") != "/x.sock" {
		t.Error("DockerSocket decisions are off")
	}
	eps, err := ParseEnvLines([]byte("noise\nMSGLABS_AMQP_URL=amqp://a/\nMSGLABS_DATABASE_URL=postgres://b/\n"))
	if err != nil || eps.AMQP.URL != "amqp://a/" || eps.Database.URL != "postgres://b/" {
		t.Fatalf("ParseEnvLines = %+v, %v", eps, err)
	}
}

// Passwords are masked in URLs that parse, in URLs that do not, and in text that quotes either.
func TestRedactText(t *testing.T) {
	for in, want := range map[string]string{
		"amqp://guest:ab#cd@127.0.0.1:5672/":                          "amqp://guest:***@127.0.0.1:5672/",
		`parse "amqp://guest:ab": invalid port`:                       `parse "amqp://guest:***": invalid port`,
		"dial amqp://ann:p@ss:w/rd@broker:5672/room failed":           "dial amqp://ann:***@broker:5672/room failed",
		"user guest:hunter2@broker.example is refused":                "user guest:***@broker.example is refused",
		"amqp://broker.example:5672/ and postgres://db:5432/x stay":   "amqp://broker.example:5672/ and postgres://db:5432/x stay",
		"postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable": "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable",
		"time 10:30 and ratio 3:2 stay":                               "time 10:30 and ratio 3:2 stay",
	} {
		if got := RedactText(in); got != want {
			t.Errorf("RedactText(%q) = %q, want %q", in, got, want)
		}
	}
	if got := Redact("amqp://guest:ab#cd@127.0.0.1:5672/"); got != "amqp://guest:***@127.0.0.1:5672/" {
		t.Errorf("Redact of a URL that does not parse = %q", got)
	}
	_, err := HostPort("amqp://guest:ab#cd@127.0.0.1:5672/")
	if err == nil || strings.Contains(err.Error(), "ab") || !errors.Is(err, ErrBadURL) {
		t.Errorf("HostPort of a URL with a bare # = %v: want ErrBadURL, without the password", err)
	}
	d := Decide(context.Background(), RabbitMQ, fakeWorld{env: map[string]string{EnvAMQP: "amqp://guest:ab#cd@127.0.0.1:5672/"}}.probes())
	if d.Err == nil || strings.Contains(d.Err.Error(), "ab#cd") || strings.Contains(d.Err.Error(), "guest:ab") {
		t.Errorf("Decide for a malformed URL: %v", d.Err)
	}
}

// The broker's and the database's refusals are worded with the service, what it said, and the fix.
func TestExplain(t *testing.T) {
	room := Endpoint{URL: "amqp://guest:pw@instructor.local:5672/room", Source: FromEnv}
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&amqp.Error{Code: 403, Reason: "username or password not allowed"},
			`RabbitMQ refused the login for user "guest" (ACCESS_REFUSED): check the user and password in MSGLABS_AMQP_URL; RabbitMQ lets "guest" log in only from the broker's own machine, so a room needs its own user`},
		{&amqp.Error{Code: 530, Reason: "NOT_ALLOWED - access to vhost 'room' refused for user 'guest'"},
			`RabbitMQ did not let user "guest" use virtual host "room" (NOT_ALLOWED: NOT_ALLOWED - access to vhost 'room' refused for user 'guest'): give the user permissions: rabbitmqctl set_permissions -p room guest '.*' '.*' '.*'`},
	} {
		p := ExplainAMQP(room, tc.err)
		if p.Error() != tc.want || !errors.Is(p, ErrRefused) || strings.Contains(p.Error(), "pw") {
			t.Errorf("ExplainAMQP(%v) = %q, want %q", tc.err, p.Error(), tc.want)
		}
	}
	local := Endpoint{URL: DefaultDatabase, Source: FromLocal}
	p := ExplainDatabase(local, &pgconn.PgError{Code: "28P01", Message: "password authentication failed"})
	if want := `PostgreSQL refused the login for user "postgres" (wrong password, SQLSTATE 28P01): check the user and password in ` +
		`MSGLABS_DATABASE_URL (unset: the local default postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable was used)`; p.Error() != want {
		t.Errorf("ExplainDatabase = %q, want %q", p.Error(), want)
	}
	if p := ExplainDatabase(local, errors.New("dial tcp 127.0.0.1:5432: connect: connection refused")); !errors.Is(p, ErrUnreachable) {
		t.Errorf("a dial error is not ErrUnreachable: %v", p)
	}
}
