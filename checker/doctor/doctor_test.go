package doctor

import (
	"context"
	"errors"
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
	if mq.OK || strings.Contains(mq.Detail, "s3cret") || !strings.Contains(mq.Fix, "correct MSGLABS_AMQP_URL") {
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
