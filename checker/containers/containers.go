// Package containers starts, or reuses by name, the kit's RabbitMQ and PostgreSQL containers with testcontainers-go,
// for machines that have Docker but neither service installed.
package containers

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"

	"msglabs/shared/infra"
)

// Names and images of the kit's containers; a second start finds them by name and reuses them.
const (
	RabbitMQName  = "msglabs-rabbitmq"
	RabbitMQImage = "rabbitmq:3.13-management"
	PostgresName  = "msglabs-postgres"
	PostgresImage = "postgres:16"
)

// envRyukDisabled is read by testcontainers-go once, on first use.
const envRyukDisabled = "TESTCONTAINERS_RYUK_DISABLED"

// startupTimeout bounds the wait for a fresh container (an image pull is not included in it).
const startupTimeout = 2 * time.Minute

// Start starts or reuses both containers, waits until they accept connections and returns their URLs.
// The containers outlive the command (that is the point of reusing them), so the Ryuk reaper, which would remove
// them shortly after this process exits, is turned off unless the user configured it.
func Start(ctx context.Context) (infra.Endpoints, error) {
	if os.Getenv(envRyukDisabled) == "" {
		if err := os.Setenv(envRyukDisabled, "true"); err != nil {
			return infra.Endpoints{}, fmt.Errorf("disable reaper: %w", err)
		}
	}
	mq, err := testcontainers.Run(ctx, RabbitMQImage,
		testcontainers.WithReuseByName(RabbitMQName),
		testcontainers.WithExposedPorts("5672/tcp", "15672/tcp"),
		testcontainers.WithWaitStrategy(wait.ForListeningPort("5672/tcp").WithStartupTimeout(startupTimeout)),
	)
	if err != nil {
		return infra.Endpoints{}, fmt.Errorf("start %s: %w", RabbitMQName, err)
	}
	pg, err := testcontainers.Run(ctx, PostgresImage,
		testcontainers.WithReuseByName(PostgresName),
		testcontainers.WithExposedPorts("5432/tcp"),
		testcontainers.WithEnv(map[string]string{"POSTGRES_HOST_AUTH_METHOD": "trust"}),
		// During initialisation the server listens on its unix socket only, so an open TCP port means ready.
		testcontainers.WithWaitStrategy(wait.ForListeningPort("5432/tcp").WithStartupTimeout(startupTimeout)),
	)
	if err != nil {
		return infra.Endpoints{}, fmt.Errorf("start %s: %w", PostgresName, err)
	}
	mqAddr, err := mq.PortEndpoint(ctx, "5672/tcp", "")
	if err != nil {
		return infra.Endpoints{}, fmt.Errorf("%s port: %w", RabbitMQName, err)
	}
	pgAddr, err := pg.PortEndpoint(ctx, "5432/tcp", "")
	if err != nil {
		return infra.Endpoints{}, fmt.Errorf("%s port: %w", PostgresName, err)
	}
	return infra.Endpoints{
		AMQP:     infra.Endpoint{URL: AMQPURL(mqAddr), Source: infra.FromDocker},
		Database: infra.Endpoint{URL: DatabaseURL(pgAddr), Source: infra.FromDocker},
	}, nil
}

// AMQPURL is the broker URL for a host:port (the image's default guest user).
func AMQPURL(hostPort string) string { return "amqp://guest:guest@" + hostPort + "/" }

// DatabaseURL is the PostgreSQL URL for a host:port (trust authentication, so no password).
func DatabaseURL(hostPort string) string {
	return "postgres://postgres@" + hostPort + "/postgres?sslmode=disable"
}

// EnvLines are the lines `checker containers` prints, which infra.ParseEnvLines reads.
func EnvLines(eps infra.Endpoints) string {
	return infra.EnvAMQP + "=" + eps.AMQP.URL + "\n" + infra.EnvDatabase + "=" + eps.Database.URL + "\n"
}
