package containers

import (
	"testing"

	"msglabs/shared/infra"
)

func TestEnvLinesRoundTrip(t *testing.T) {
	eps := infra.Endpoints{
		AMQP:     infra.Endpoint{URL: AMQPURL("127.0.0.1:32771")},
		Database: infra.Endpoint{URL: DatabaseURL("127.0.0.1:32772")},
	}
	got, err := infra.ParseEnvLines([]byte(EnvLines(eps)))
	if err != nil {
		t.Fatal(err)
	}
	if got.AMQP.URL != "amqp://guest:guest@127.0.0.1:32771/" ||
		got.Database.URL != "postgres://postgres@127.0.0.1:32772/postgres?sslmode=disable" {
		t.Fatalf("got %+v", got)
	}
}
