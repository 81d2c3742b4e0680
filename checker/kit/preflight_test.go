package kit

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"

	"msglabs/checker/doctor"
	"msglabs/shared/infra"
)

func TestPreflightWordsEachFailure(t *testing.T) {
	eps := infra.Endpoints{AMQP: infra.Endpoint{URL: "amqp://ann:s3cret@10.0.0.9:5672/room"},
		Database: infra.Endpoint{URL: "postgres://postgres@127.0.0.1:5432/postgres"}}
	cases := []struct {
		mq, db  error
		service string
		want    []string
	}{
		{mq: &amqp.Error{Code: amqp.AccessRefused, Reason: "ACCESS_REFUSED - username or password not allowed"}, service: "RabbitMQ",
			want: []string{"INFRA: RabbitMQ at amqp://ann:***@10.0.0.9:5672/room refused the login of user \"ann\"", "username or password", "fix: put the room's user and password in MSGLABS_AMQP_URL"}},
		{mq: &amqp.Error{Code: amqp.NotAllowed, Reason: "NOT_ALLOWED - vhost room not found"}, service: "RabbitMQ",
			want: []string{"INFRA: RabbitMQ at amqp://ann:***@10.0.0.9:5672/room has no vhost \"room\"", "fix: use the room's vhost in MSGLABS_AMQP_URL"}},
		{db: fmt.Errorf("failed to connect to 127.0.0.1:5432: dial error: %w", syscall.ECONNREFUSED), service: "PostgreSQL",
			want: []string{"INFRA: PostgreSQL postgres://postgres@127.0.0.1:5432/postgres (MSGLABS_DATABASE_URL) is not reachable: nothing listens on that port", "fix: start it, or correct MSGLABS_DATABASE_URL"}},
	}
	for _, c := range cases {
		p := doctor.Probes{
			RabbitMQ: func(context.Context, string) (string, error) { return "RabbitMQ 4.1", c.mq },
			Postgres: func(context.Context, string) (string, error) { return "PostgreSQL 17", c.db },
		}
		got := Preflight(context.Background(), eps, p)
		if len(got) != 1 || got[0].Service != c.service {
			t.Fatalf("preflight with %v / %v = %+v, want one problem of %s", c.mq, c.db, got, c.service)
		}
		line := got[0].String()
		for _, w := range c.want {
			if !strings.Contains(line, w) {
				t.Errorf("line %q lacks %q", line, w)
			}
		}
		if strings.Contains(line, "s3cret") {
			t.Errorf("line %q shows the password", line)
		}
	}
	ok := doctor.Probes{
		RabbitMQ: func(context.Context, string) (string, error) { return "RabbitMQ 4.1", nil },
		Postgres: func(context.Context, string) (string, error) { return "PostgreSQL 17", nil },
	}
	if got := Preflight(context.Background(), eps, ok); len(got) != 0 {
		t.Fatalf("preflight with both services up = %+v", got)
	}
}
