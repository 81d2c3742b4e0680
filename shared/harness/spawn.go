package harness

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	amqp "github.com/rabbitmq/amqp091-go"

	"msglabs/shared/fault"
)

// Roles name the services a lab's test binary can run in a process of their own: role name → the function that runs
// the service until ctx is done. Give them to Main in the test's TestMain.
type Roles map[string]func(ctx context.Context, s *Service) error

// Args are a service's start-up arguments: the names of its exchange and queue, a flag. Read them with Service.Arg.
type Args map[string]string

// roles are the ones Main was given (nil when the test binary has no harness.Main).
var roles Roles

// Main runs a lab's tests, or, when the test binary was started by Env.Spawn, the service it was started as. Call it
// from TestMain:
//
//	func TestMain(m *testing.M) { harness.Main(m, harness.Roles{"billing": runBilling}) }
func Main(m *testing.M, r Roles) {
	if cfg := os.Getenv(childEnv); cfg != "" {
		os.Exit(runChild(cfg, r))
	}
	roles = r
	os.Exit(m.Run())
}

// Service is what a role function gets to run one service instance: its connections (through the test's proxies,
// so the timeline sees them and the test can cut them), its crash points, its arguments, and a line to the test.
// In a spawned process every method is a call to the test process. A Service is safe for concurrent use.
type Service struct {
	Name   string        // "billing#2", as the timeline shows it
	Points *fault.Points // pass them to the lab code: a visit of an armed point kills this process

	ctx  context.Context
	args Args
	be   backend

	mu    sync.Mutex
	pool  *pgxpool.Pool
	conns []*amqp.Connection
}

// backend is where a Service gets what it asks for: the Process itself in the test's OS process, the line to the
// test in a spawned one.
type backend interface {
	dial() (*amqp.Connection, error)
	openPool() (*pgxpool.Pool, error)
	call(name, arg string) string
	logf(text string)
	fatal(err error) // stops the service; never returns
}

// Context is cancelled when the service must stop: the test ended, or the process is being killed.
func (s *Service) Context() context.Context { return s.ctx }

// Arg returns the argument called key ("" when the test did not give it).
func (s *Service) Arg(key string) string { return s.args[key] }

// Logf writes a line to the test's timeline, as this service.
func (s *Service) Logf(format string, args ...any) { s.be.logf(fmt.Sprintf(format, args...)) }

// Call asks the test (its handler registered with Process.On) and blocks for its answer. Tests use it to hold a
// service at a spot of their choosing: a line-up of two instances, a pause before a write.
func (s *Service) Call(name, arg string) string { return s.be.call(name, arg) }

// Dial opens a new AMQP connection to the broker through this service's proxy. The connection closes when the
// service stops.
func (s *Service) Dial() (*amqp.Connection, error) {
	conn, err := s.be.dial()
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.conns = append(s.conns, conn)
	s.mu.Unlock()
	return conn, nil
}

// MustDial is Dial that stops the service, with the reason in the test's timeline, when it fails.
func (s *Service) MustDial() *amqp.Connection {
	conn, err := s.Dial()
	if err != nil {
		s.be.fatal(fmt.Errorf("could not connect to the broker: %w", err))
	}
	return conn
}

// Pool returns this service's database pool (through its proxy, on the test's schema), opening it on first use. If
// it cannot be opened, the service stops with the reason in the test's timeline.
func (s *Service) Pool() *pgxpool.Pool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pool != nil {
		return s.pool
	}
	pool, err := s.be.openPool()
	if err != nil {
		s.be.fatal(fmt.Errorf("could not open the database pool: %w", err))
	}
	s.pool = pool
	return pool
}

// close closes what the service opened.
func (s *Service) close() {
	s.mu.Lock()
	conns, pool := s.conns, s.pool
	s.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
	if pool != nil {
		pool.Close()
	}
}

// InProcess runs the role called name as a service in the test's own OS process (goroutines that share its memory),
// with the same Service a spawned one gets. Use it where memory cannot cheat, or to show that it can.
func (e *Env) InProcess(name string, args Args) *Process {
	e.T.Helper()
	return e.InProcessRole(name, name, args)
}

// InProcessRole is InProcess for a role whose name differs from the process's ("billing-a" running "billing").
func (e *Env) InProcessRole(name, role string, args Args) *Process {
	e.T.Helper()
	run := e.role(role)
	e.Schema() // the role opens its pool and dials from its own goroutine, which cannot fail the test: ready both
	p := e.newProcess(name)
	if _, err := p.brokerURL(); err != nil {
		e.T.Fatal(err)
	}
	s := &Service{Name: p.Name, Points: p.Points, ctx: p.ctx, args: args, be: p}
	p.Go(func(ctx context.Context) error {
		defer s.close()
		return run(ctx, s)
	})
	return p
}

// role finds a role Main was given, or fails the test saying what is missing.
func (e *Env) role(name string) func(context.Context, *Service) error {
	e.T.Helper()
	if roles == nil {
		e.T.Fatalf("a service process needs the test binary's TestMain to call harness.Main(m, harness.Roles{%q: …})", name)
	}
	run, ok := roles[name]
	if !ok {
		known := make([]string, 0, len(roles))
		for r := range roles {
			known = append(known, r)
		}
		sort.Strings(known)
		e.T.Fatalf("no role %q: harness.Main was given %s", name, strings.Join(known, ", "))
	}
	return run
}

// The Process is the backend of a service that runs in the test's OS process.

func (p *Process) dial() (*amqp.Connection, error) { return p.Dial() }

func (p *Process) logf(text string) { p.env.Log(p.Name, "%s", text) }

func (p *Process) call(name, arg string) string {
	h, err := p.handler(name)
	if err != nil {
		p.failed(err)
		return ""
	}
	return h(arg)
}

func (p *Process) fatal(err error) {
	p.failed(err)
	runtime.Goexit()
}

// On registers the test's answer to the service's Service.Call(call, arg): handler runs on a goroutine of its own for
// each call, and what it returns is what Call returns in the service. Register handlers right after Spawn: a call
// that arrives first waits for its handler (up to Patience), and a call nobody answers fails the test.
func (p *Process) On(call string, handler func(arg string) string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.handlers[call] = handler
	close(p.newCall)
	p.newCall = make(chan struct{})
}

// handler returns the test's handler for call, waiting up to Patience for it to be registered.
func (p *Process) handler(call string) (func(string) string, error) {
	deadline := time.NewTimer(Patience)
	defer deadline.Stop()
	for {
		p.mu.Lock()
		h, registered := p.handlers[call], p.newCall
		p.mu.Unlock()
		if h != nil {
			return h, nil
		}
		select {
		case <-registered:
		case <-p.ctx.Done():
			return nil, fmt.Errorf("%s called %q as it was stopping", p.Name, call)
		case <-deadline.C:
			return nil, fmt.Errorf("%s called %q, but the test registered no handler for it within %v (proc.On(%q, …))",
				p.Name, call, Patience, call)
		}
	}
}
