package harness

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	amqp "github.com/rabbitmq/amqp091-go"

	"msglabs/shared/fault"
	"msglabs/shared/infra"
)

// Process stands for one running service (Billing, Sales, …). Its broker and database connections go through
// proxies owned by the test, so the test can cut them, and its crash points make it "die" like a killed process:
// connections gone without acks, open transactions rolled back. A dead Process stays dead; start a new one with
// Env.Process to "restart" the service. A Process is safe for concurrent use.
type Process struct {
	Name   string // as shown in the timeline: "billing", or "billing#2" for a restart
	Points *fault.Points

	env    *Env
	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex
	mq, db  *fault.Proxy
	pool    *pgxpool.Pool
	conns   []*amqp.Connection
	dead    bool
	wg      sync.WaitGroup
	errs    []error
	stopped chan struct{}
}

// Process starts a new service instance called name. Calling it again with the same name starts a fresh instance
// (a restart) shown as "name#2" in the timeline.
func (e *Env) Process(name string) *Process {
	e.T.Helper()
	e.mu.Lock()
	e.processes[name]++
	label := name
	if n := e.processes[name]; n > 1 {
		label = fmt.Sprintf("%s#%d", name, n)
	}
	e.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	p := &Process{Name: label, env: e, ctx: ctx, cancel: cancel, stopped: make(chan struct{})}
	p.Points = fault.NewPoints(p.crash)
	e.mu.Lock()
	e.procs = append(e.procs, p)
	e.mu.Unlock()
	return p
}

// Context is cancelled when the process is killed, crashes, or the test ends. Service loops should return when it is.
func (p *Process) Context() context.Context { return p.ctx }

func (p *Process) brokerProxy() (*fault.Proxy, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mq != nil {
		return p.mq, nil
	}
	target, err := infra.HostPort(p.env.AMQPURL())
	if err != nil {
		return nil, err
	}
	px, err := fault.NewProxy(target, func() fault.Tap { return newRecorder(p.env, p.Name) })
	if err != nil {
		return nil, err
	}
	if p.dead {
		px.Refuse(true)
	}
	p.mq = px
	return px, nil
}

// AMQPURL is the broker URL this process must use: it points at the process's proxy.
func (p *Process) AMQPURL() string {
	p.env.T.Helper()
	px, err := p.brokerProxy()
	if err != nil {
		p.env.T.Fatalf("start broker proxy for %s: %v", p.Name, err)
	}
	return withHost(p.env.AMQPURL(), px.Addr())
}

// Dial opens a new AMQP connection for this process (through its proxy). The connection is closed at cleanup.
// After a crash or Kill, Dial fails: the process is dead.
func (p *Process) Dial() (*amqp.Connection, error) {
	p.mu.Lock()
	dead := p.dead
	p.mu.Unlock()
	if dead {
		return nil, fmt.Errorf("dial broker as %s: %w", p.Name, ErrDead)
	}
	conn, err := amqp.DialConfig(p.AMQPURL(), amqp.Config{
		Properties: amqp.Table{"connection_name": p.env.prefix + "/" + p.Name},
		Heartbeat:  10 * time.Second,
	})
	if err != nil {
		return nil, fmt.Errorf("dial broker as %s: %w", p.Name, err)
	}
	p.mu.Lock()
	p.conns = append(p.conns, conn)
	p.mu.Unlock()
	return conn, nil
}

// MustDial is Dial that fails the test on error.
func (p *Process) MustDial() *amqp.Connection {
	p.env.T.Helper()
	conn, err := p.Dial()
	if err != nil {
		p.env.T.Fatalf("%v (is RabbitMQ still up?)", err)
	}
	return conn
}

// ErrDead is returned when a crashed or killed process tries to connect again.
var ErrDead = errors.New("process is dead")

// Pool returns this process's database pool: through its proxy, with search_path set to the test's schema.
// The first call creates the schema if needed. The pool is closed at cleanup.
func (p *Process) Pool() *pgxpool.Pool {
	p.env.T.Helper()
	schema := p.env.Schema()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pool != nil {
		return p.pool
	}
	target, err := infra.HostPort(p.env.DatabaseURL())
	if err != nil {
		p.env.T.Fatal(err)
	}
	px, err := fault.NewProxy(target, nil)
	if err != nil {
		p.env.T.Fatalf("start database proxy for %s: %v", p.Name, err)
	}
	if p.dead {
		px.Refuse(true)
	}
	p.db = px
	pool, err := newPool(withHost(p.env.DatabaseURL(), px.Addr()), schema)
	if err != nil {
		p.env.T.Fatalf("database pool for %s: %v", p.Name, err)
	}
	p.pool = pool
	return pool
}

// Go runs a service loop for this process. The loop should return when ctx is done. An error other than the
// process's own death is written to the timeline (and returned by Err) so a failure story shows it.
func (p *Process) Go(run func(ctx context.Context) error) {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		err := run(p.ctx)
		if err != nil && p.ctx.Err() == nil {
			p.env.Log(p.Name, "stopped with error: %v", err)
			p.mu.Lock()
			p.errs = append(p.errs, err)
			p.mu.Unlock()
		}
	}()
}

// Err returns the errors service loops returned, joined.
func (p *Process) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return errors.Join(p.errs...)
}

// crash is what an armed crash point calls: the process dies where it stands.
func (p *Process) crash(point string) {
	p.env.Log(p.Name, "CRASHED at %q (injected: the process dies here)", point)
	p.die()
}

// Kill makes the process die now, as if its host lost power: connections vanish without acks, open transactions roll
// back, and it cannot reconnect.
func (p *Process) Kill() {
	p.env.Log(p.Name, "killed by the test")
	p.die()
}

func (p *Process) die() {
	p.mu.Lock()
	if p.dead {
		p.mu.Unlock()
		return
	}
	p.dead = true
	mq, db := p.mq, p.db
	p.mu.Unlock()
	for _, px := range []*fault.Proxy{mq, db} {
		if px != nil {
			px.Refuse(true)
			px.Cut()
		}
	}
	p.cancel()
}

// Dead reports whether the process crashed or was killed.
func (p *Process) Dead() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.dead
}

// CutBroker drops the process's broker connections, as a network failure would. The process lives on and may
// reconnect (Dial works again at once). It returns how many connections were cut.
func (p *Process) CutBroker() int {
	px, err := p.brokerProxy()
	if err != nil {
		return 0
	}
	n := px.Cut()
	p.env.Log(p.Name, "broker connection cut by the test (%d connection(s))", n)
	return n
}

// BlackholeBroker makes the network between the process and the broker silently lose everything the process sends
// from now on: its publishes leave (the timeline shows them) but never arrive, and nobody is told. Follow it with
// CutBroker once the test has seen what it wanted to go missing, as the operating system eventually would notice.
// Connections dialled afterwards are not affected. It returns how many connections now lose their traffic.
func (p *Process) BlackholeBroker() int {
	px, err := p.brokerProxy()
	if err != nil {
		return 0
	}
	n := px.Blackhole()
	p.env.Log(p.Name, "network to the broker silently drops everything sent from here on (injected, %d connection(s))", n)
	return n
}

// BrokerDown makes the broker unreachable for this process (true) or reachable again (false), without touching the
// broker itself: other attendees are unaffected.
func (p *Process) BrokerDown(down bool) {
	px, err := p.brokerProxy()
	if err != nil {
		return
	}
	px.Refuse(down)
	if down {
		px.Cut()
		p.env.Log(p.Name, "broker unreachable from here (injected)")
	} else {
		p.env.Log(p.Name, "broker reachable again")
	}
}

// Wait blocks until every loop started with Go has returned, or limit passes; it reports whether they all returned.
func (p *Process) Wait(limit time.Duration) bool {
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(limit):
		return false
	}
}

// shutdown stops the process at cleanup: cancel, close connections, wait for loops, close proxies.
func (p *Process) shutdown() {
	p.cancel()
	p.mu.Lock()
	conns, pool, mq, db := p.conns, p.pool, p.mq, p.db
	p.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
	if !p.Wait(Patience) {
		p.env.T.Errorf("%s: a service loop did not return within %v after the test ended (does it watch ctx.Done()?)", p.Name, Patience)
	}
	if pool != nil {
		pool.Close()
	}
	for _, px := range []*fault.Proxy{mq, db} {
		if px != nil {
			_ = px.Close()
		}
	}
}

// withHost swaps the host:port of a URL, keeping user, path and query.
func withHost(rawURL, hostPort string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return rawURL
	}
	if _, _, err := net.SplitHostPort(hostPort); err == nil {
		u.Host = hostPort
	}
	return u.String()
}
