package infra

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
)

// EnvChecker names the checker binary; `checker run` sets it so the harness can ask it for containers.
const EnvChecker = "MSGLABS_CHECKER"

// Endpoints are the two resolved services.
type Endpoints struct {
	AMQP     Endpoint
	Database Endpoint
}

var (
	resolveOnce sync.Once
	resolved    Endpoints
	resolveErr  error
)

// Resolve finds both services, once per process; every later call returns the first answer.
// It is safe for concurrent use.
func Resolve(ctx context.Context) (Endpoints, error) {
	resolveOnce.Do(func() { resolved, resolveErr = resolve(ctx, DefaultProbes(), StartContainers) })
	return resolved, resolveErr
}

// resolve decides for both services and, if either needs a container, starts them (once, both at a time).
func resolve(ctx context.Context, p Probes, start func(context.Context) (Endpoints, error)) (Endpoints, error) {
	mq, db := Decide(ctx, RabbitMQ, p), Decide(ctx, PostgreSQL, p)
	if err := errors.Join(mq.Err, db.Err); err != nil {
		return Endpoints{}, err
	}
	eps := Endpoints{AMQP: mq.Endpoint, Database: db.Endpoint}
	if !mq.StartContainer && !db.StartContainer {
		return eps, nil
	}
	started, err := start(ctx)
	if err != nil {
		return Endpoints{}, fmt.Errorf("%w: start containers: %v; fix: run `make up`, or set %s and %s",
			ErrUnreachable, err, EnvAMQP, EnvDatabase)
	}
	if mq.StartContainer {
		eps.AMQP = started.AMQP
	}
	if db.StartContainer {
		eps.Database = started.Database
	}
	return eps, nil
}

// StartContainers asks the checker (`checker containers`) for the kit's reusable containers. The container code
// lives in the checker, not here, so that every lab's test binary stays small and links fast.
func StartContainers(ctx context.Context) (Endpoints, error) {
	var cmd *exec.Cmd
	if bin := os.Getenv(EnvChecker); bin != "" {
		cmd = exec.CommandContext(ctx, bin, "containers")
	} else {
		cmd = exec.CommandContext(ctx, "go", "run", "msglabs/checker", "containers")
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return Endpoints{}, fmt.Errorf("%v: %s", err, strings.TrimSpace(stderr.String()))
	}
	return ParseEnvLines(out)
}

// ParseEnvLines reads the VAR=value lines `checker containers` prints.
func ParseEnvLines(out []byte) (Endpoints, error) {
	var eps Endpoints
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
		if !ok {
			continue
		}
		switch k {
		case EnvAMQP:
			eps.AMQP = Endpoint{URL: v, Source: FromDocker}
		case EnvDatabase:
			eps.Database = Endpoint{URL: v, Source: FromDocker}
		}
	}
	if eps.AMQP.URL == "" || eps.Database.URL == "" {
		return Endpoints{}, fmt.Errorf("checker containers printed no %s/%s lines", EnvAMQP, EnvDatabase)
	}
	return eps, nil
}
