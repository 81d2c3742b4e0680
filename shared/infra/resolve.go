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

// Resolve finds both services, once per process; every later call returns the first answer.
// It is safe for concurrent use.
func Resolve(ctx context.Context) (Endpoints, error) { return kit.both(ctx) }

// ResolveService finds one service, once per process, without looking for the other: a test that only needs the
// broker never probes the database. It is safe for concurrent use.
func ResolveService(ctx context.Context, svc Service) (Endpoint, error) { return kit.service(ctx, svc) }

// kit resolves the real services.
var kit = newResolver(DefaultProbes(), StartContainers)

// resolver applies Decide once per service and starts the containers (once, both at a time) if either needs one.
type resolver struct {
	probes Probes
	start  func(context.Context) (Endpoints, error)

	decideOnce [2]sync.Once
	decisions  [2]Decision

	startOnce sync.Once
	started   Endpoints
	startErr  error
}

func newResolver(p Probes, start func(context.Context) (Endpoints, error)) *resolver {
	return &resolver{probes: p, start: start}
}

// resolve decides for both services and, if either needs a container, starts them.
func resolve(ctx context.Context, p Probes, start func(context.Context) (Endpoints, error)) (Endpoints, error) {
	return newResolver(p, start).both(ctx)
}

func (r *resolver) both(ctx context.Context) (Endpoints, error) {
	mq, mqErr := r.service(ctx, RabbitMQ)
	db, dbErr := r.service(ctx, PostgreSQL)
	if err := errors.Join(mqErr, dbErr); err != nil {
		return Endpoints{}, err
	}
	return Endpoints{AMQP: mq, Database: db}, nil
}

func (r *resolver) service(ctx context.Context, svc Service) (Endpoint, error) {
	i := 0
	if svc.EnvVar == PostgreSQL.EnvVar {
		i = 1
	}
	r.decideOnce[i].Do(func() { r.decisions[i] = Decide(ctx, svc, r.probes) })
	d := r.decisions[i]
	if d.Err != nil || !d.StartContainer {
		return d.Endpoint, d.Err
	}
	r.startOnce.Do(func() { r.started, r.startErr = r.start(ctx) })
	if r.startErr != nil {
		return Endpoint{}, fmt.Errorf("%w: start containers: %v; fix: run `make up`, or set %s and %s",
			ErrUnreachable, r.startErr, EnvAMQP, EnvDatabase)
	}
	if i == 1 {
		return r.started.Database, nil
	}
	return r.started.AMQP, nil
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
