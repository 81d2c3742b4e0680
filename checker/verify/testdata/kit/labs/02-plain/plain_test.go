// Do not edit: this test shows the failure.
package plain

import (
	"os"
	"testing"
)

// services stands in for the harness's connection check: with FIXTURE_INFRA set, the broker "refuses the login".
func services(t *testing.T) {
	t.Helper()
	if os.Getenv("FIXTURE_INFRA") != "" {
		t.Fatal("INFRA: RabbitMQ refused the login (ACCESS_REFUSED); fix: check the user and password in MSGLABS_AMQP_URL")
	}
}

func TestFine(t *testing.T) { services(t) }

func TestFixed(t *testing.T) {
	services(t)
	if !Fixed() {
		t.Fatal("LOST: order o-1 went missing")
	}
}
