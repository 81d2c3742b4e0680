package doctor

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"msglabs/shared/infra"
)

func probes(env map[string]string, mq, pg error, docker bool) Probes {
	return Probes{
		Getenv:    func(k string) string { return env[k] },
		GoVersion: func(context.Context) (string, error) { return "go1.26.8 linux/amd64", nil },
		RabbitMQ: func(_ context.Context, url string) (string, error) {
			if mq != nil {
				return "", errors.New(mq.Error() + " dialing " + url)
			}
			return "RabbitMQ 3.13.7", nil
		},
		Postgres: func(context.Context, string) (string, error) {
			if pg != nil {
				return "", pg
			}
			return "PostgreSQL 16.4", nil
		},
		Docker: func(context.Context) bool { return docker },
	}
}

func TestAllGood(t *testing.T) {
	checks := Run(context.Background(), probes(nil, nil, nil, false))
	if Failed(checks) {
		t.Fatalf("failed: %+v", checks)
	}
	if len(checks) != 4 || checks[1].Name != "RabbitMQ" || !strings.Contains(checks[1].Detail, "RabbitMQ 3.13.7 at amqp://guest:***@127.0.0.1:5672/") {
		t.Fatalf("checks = %+v", checks)
	}
	if checks[3].OK || checks[3].Required {
		t.Fatalf("docker check = %+v, want optional and missing", checks[3])
	}
}

func TestMissingBrokerFromEnvIsRedacted(t *testing.T) {
	env := map[string]string{infra.EnvAMQP: "amqp://ann:s3cret@broker.example:5672/"}
	checks := Run(context.Background(), probes(env, errors.New("connection refused"), nil, true))
	if !Failed(checks) {
		t.Fatal("a missing broker named by MSGLABS_AMQP_URL must fail")
	}
	mq := checks[1]
	if mq.OK || strings.Contains(mq.Detail, "s3cret") || !strings.Contains(mq.Detail, "amqp://ann:***@broker.example:5672/") ||
		!strings.Contains(mq.Fix, "correct MSGLABS_AMQP_URL") {
		t.Fatalf("check = %+v", mq)
	}
}

func TestMissingLocalServiceWithDocker(t *testing.T) {
	checks := Run(context.Background(), probes(nil, nil, errors.New("connection refused"), true))
	if Failed(checks) {
		t.Fatalf("with Docker, containers stand in for a missing local service: %+v", checks)
	}
	checks = Run(context.Background(), probes(nil, nil, errors.New("connection refused"), false))
	if !Failed(checks) || !strings.Contains(checks[2].Fix, "make up") {
		t.Fatalf("without Docker: %+v", checks)
	}
}

func TestProbesAreBounded(t *testing.T) {
	p := probes(nil, nil, nil, false)
	p.Postgres = func(ctx context.Context, _ string) (string, error) {
		<-ctx.Done()
		return "", ctx.Err()
	}
	start := time.Now()
	checks := Run(context.Background(), p)
	if d := time.Since(start); d > ProbeTimeout+time.Second {
		t.Fatalf("doctor took %s", d)
	}
	if checks[2].OK || !strings.Contains(checks[2].Detail, "no answer within 2s") {
		t.Fatalf("check = %+v", checks[2])
	}
}

// live runs the real probe of svc against rawURL, skipping the test when the machine's service is not there at all.
func live(t *testing.T, svc infra.Service, rawURL string) Check {
	t.Helper()
	probe := realProbe(svc)
	if _, err := probe(context.Background(), svc.Default); err != nil {
		t.Skipf("%s is not running here: %v", svc.Name, err)
	}
	env := map[string]string{svc.EnvVar: rawURL}
	p := DefaultProbes()
	p.Getenv = func(k string) string { return env[k] }
	p.GoVersion = func(context.Context) (string, error) { return "go", nil }
	p.Docker = func(context.Context) bool { return false }
	start := time.Now()
	checks := Run(context.Background(), p)
	if d := time.Since(start); d > ProbeTimeout+HandshakeTimeout+time.Second {
		t.Fatalf("doctor took %s", d)
	}
	for _, c := range checks {
		if c.Name == svc.Name {
			if strings.Contains(c.Detail+c.Fix, "s3cret") || strings.ContainsAny(c.Detail+c.Fix, "\n") {
				t.Fatalf("%s check prints the password or more than one line: %+v", svc.Name, c)
			}
			return c
		}
	}
	t.Fatalf("no %s check in %+v", svc.Name, checks)
	return Check{}
}

// realProbe returns the probe DefaultProbes uses for svc.
func realProbe(svc infra.Service) func(context.Context, string) (string, error) {
	if svc.EnvVar == infra.EnvAMQP {
		return RabbitMQVersion
	}
	return PostgresVersion
}

func TestRefusalsAreNamedAsTheServiceSaidThem(t *testing.T) {
	cases := []struct {
		name  string
		svc   infra.Service
		url   string
		cause string
		fix   string
	}{
		{"wrong broker password", infra.RabbitMQ, "amqp://guest:s3cret@127.0.0.1:5672/",
			`RabbitMQ at amqp://guest:***@127.0.0.1:5672/ refused the login of user "guest" (ACCESS_REFUSED`, "put the room's user and password in MSGLABS_AMQP_URL"},
		{"unknown vhost", infra.RabbitMQ, "amqp://guest:guest@127.0.0.1:5672/no-such-room",
			`has no vhost "no-such-room"`, "rabbitmqctl add_vhost no-such-room"},
		{"unknown database user", infra.PostgreSQL, "postgres://nobody:s3cret@127.0.0.1:5432/postgres",
			`PostgreSQL at postgres://nobody:***@127.0.0.1:5432/postgres refused the login of user "nobody"`, "put the room's user and password in MSGLABS_DATABASE_URL"},
		{"unknown database", infra.PostgreSQL, "postgres://postgres@127.0.0.1:5432/no_such_room",
			`has no database "no_such_room"`, "createdb no_such_room"},
		{"closed port", infra.RabbitMQ, "amqp://guest:s3cret@127.0.0.1:1/",
			"nothing listens on that port (connection refused)", "correct MSGLABS_AMQP_URL"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := live(t, tc.svc, tc.url)
			if c.OK || !c.Required || !strings.Contains(c.Detail, tc.cause) || !strings.Contains(c.Fix, tc.fix) {
				t.Fatalf("check = %+v\nwant the cause %q and the fix %q", c, tc.cause, tc.fix)
			}
		})
	}
}

func TestSilentPortIsAHandshakeThatNeverFinishes(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { conn.Close() }) // accepted, never answered
		}
	}()
	url := "amqp://guest:s3cret@" + ln.Addr().String() + "/"
	_, err = rabbitMQVersion(context.Background(), url, 100*time.Millisecond)
	if !errors.Is(err, ErrHandshake) {
		t.Fatalf("err = %v, want ErrHandshake", err)
	}
	d := diagnose(infra.RabbitMQ, url, infra.EnvAMQP, err)
	if !strings.Contains(d.cause, "accepted the connection but did not finish the AMQP handshake") || !strings.Contains(d.fix, "5672") ||
		strings.Contains(d.cause, "s3cret") {
		t.Fatalf("diagnosis = %+v", d)
	}
}

func TestMalformedURLNeverPrintsItsPassword(t *testing.T) {
	url := "amqp://guest:ab#cd@broker.example:5672/"
	d := diagnose(infra.RabbitMQ, url, infra.EnvAMQP, errors.New("parse "+url+": invalid port"))
	if strings.Contains(d.cause+d.fix, "ab") || strings.Contains(d.cause+d.fix, "cd@") ||
		!strings.Contains(d.cause, "amqp://guest:***@broker.example:5672/ (MSGLABS_AMQP_URL) is not a valid URL") || !strings.Contains(d.fix, "# is %23") {
		t.Fatalf("diagnosis = %+v", d)
	}
	for in, want := range map[string]string{
		"amqp://guest:guest@127.0.0.1:5672/": "amqp://guest:***@127.0.0.1:5672/",
		"amqp://ann:a#b@host/":               "amqp://ann:***@host/",
		"postgres://postgres@127.0.0.1/db":   "postgres://postgres@127.0.0.1/db",
	} {
		if got := Mask(in); got != want {
			t.Errorf("Mask(%q) = %q, want %q", in, got, want)
		}
	}
}
