package harness

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"runtime/pprof"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	amqp "github.com/rabbitmq/amqp091-go"

	"msglabs/shared/fault"
	"msglabs/shared/infra"
	"msglabs/shared/story"
)

// Process stands for one running service instance (Billing, Sales, …). Its broker and database connections go
// through proxies owned by the test, so the test sees their traffic and can cut, freeze or slow them, and its crash
// points and wire-level triggers make it die like a killed process: connections gone without acks, open transactions
// rolled back. A dead Process stays dead; start a new one with the same name to "restart" the service.
//
// Env.Process runs the service as goroutines in the test's own OS process (Go, Dial, Pool); Env.Spawn runs it as a
// child OS process, so a restart really loses its memory and two instances share none. Both return a *Process with
// the same faults. A Process is safe for concurrent use.
type Process struct {
	Name   string // as shown in the timeline: "billing", or "billing#2" for a restart
	Points *fault.Points

	env     *Env
	ctx     context.Context
	cancel  context.CancelFunc
	fuse    *fault.Fuse  // every link of the process goes through it: blowing it freezes them all at once
	watch   *fault.Watch // reads the links for CrashOn triggers and for the deliveries held
	child   *child       // nil for a process that runs in the test's OS process
	crashed chan struct{}

	mu       sync.Mutex
	mq, db   *fault.Proxy
	pool     *pgxpool.Pool
	conns    []*amqp.Connection
	dead     bool
	running  int           // service loops started with Go that have not returned
	idle     chan struct{} // closed when running drops to 0
	errs     []error
	handlers map[string]func(arg string) string
	newCall  chan struct{} // closed (and replaced) when On registers a handler
}

// Process starts a new service instance called name, running in the test's OS process. Calling it again with the
// same name starts a fresh instance (a restart) shown as "name#2" in the timeline.
func (e *Env) Process(name string) *Process {
	e.T.Helper()
	return e.newProcess(name)
}

func (e *Env) newProcess(name string) *Process {
	e.mu.Lock()
	e.processes[name]++
	label := name
	if n := e.processes[name]; n > 1 {
		label = fmt.Sprintf("%s#%d", name, n)
	}
	e.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	p := &Process{Name: label, env: e, ctx: ctx, cancel: cancel, watch: fault.NewWatch(), crashed: make(chan struct{}),
		handlers: map[string]func(string) string{}, newCall: make(chan struct{})}
	p.fuse = fault.NewFuse(p.frozen)
	p.Points = fault.NewPoints(p.crash)
	e.mu.Lock()
	e.procs = append(e.procs, p)
	e.mu.Unlock()
	return p
}

// Context is cancelled when the process is killed, crashes, or the test ends. Service loops should return when it is.
func (p *Process) Context() context.Context { return p.ctx }

// Crashed is closed once the process has died of an injected fault: a crash point, a CrashOn trigger, or Kill.
func (p *Process) Crashed() <-chan struct{} { return p.crashed }

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
	px, err := fault.NewProxyWith(target, fault.Options{
		Tap:     func() fault.Tap { return newRecorder(p.env, p.Name) }, // it is told of lost links (LinkEnded)
		Inspect: p.watch.AMQP,
		Fuse:    p.fuse,
	})
	if err != nil {
		return nil, err
	}
	if p.dead {
		px.Refuse(true)
	}
	p.mq = px
	return px, nil
}

// brokerURL is the broker URL that leads through the process's proxy.
func (p *Process) brokerURL() (string, error) {
	px, err := p.brokerProxy()
	if err != nil {
		return "", fmt.Errorf("start broker proxy for %s: %w", p.Name, err)
	}
	return withHost(p.env.AMQPURL(), px.Addr()), nil
}

// AMQPURL is the broker URL this process must use: it points at the process's proxy.
func (p *Process) AMQPURL() string {
	p.env.T.Helper()
	u, err := p.brokerURL()
	if err != nil {
		p.env.T.Fatal(err)
	}
	return u
}

// Dial opens a new AMQP connection for this process (through its proxy). The connection is closed at cleanup.
// After a crash or Kill, Dial fails: the process is dead.
func (p *Process) Dial() (*amqp.Connection, error) {
	if err := p.inProcess("Dial"); err != nil {
		return nil, err
	}
	p.mu.Lock()
	dead := p.dead
	p.mu.Unlock()
	if dead {
		return nil, fmt.Errorf("dial broker as %s: %w", p.Name, ErrDead)
	}
	u, err := p.brokerURL()
	if err != nil {
		return nil, err
	}
	conn, err := dialBroker(u, p.env.prefix+"/"+p.Name)
	if err != nil {
		return nil, fmt.Errorf("dial broker as %s: %w", p.Name, err)
	}
	p.mu.Lock()
	p.conns = append(p.conns, conn)
	p.mu.Unlock()
	return conn, nil
}

// heartbeat is the AMQP heartbeat the services' connections ask for.
const heartbeat = 10 * time.Second

// dialBroker opens an AMQP connection named name (as the broker's management view shows it).
func dialBroker(rawURL, name string) (*amqp.Connection, error) {
	return amqp.DialConfig(rawURL, amqp.Config{Properties: amqp.Table{"connection_name": name}, Heartbeat: heartbeat})
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

// errSpawned is returned when the test uses, on a spawned process, what only a process in the test's OS process has.
var errSpawned = errors.New("runs in its own OS process: it dials and opens its pool itself (Service.Dial, Service.Pool)")

func (p *Process) inProcess(what string) error {
	if p.child != nil {
		return fmt.Errorf("%s on %s: %w", what, p.Name, errSpawned)
	}
	return nil
}

// databaseURL starts the process's database proxy if needed and returns the URL through it, and the test's schema
// (which the test goroutine must have created: Env.Schema).
func (p *Process) databaseURL() (string, string, error) {
	p.env.mu.Lock()
	schema := p.env.schema
	p.env.mu.Unlock()
	if schema == "" {
		return "", "", errors.New("the test has no schema yet (Env.Schema)")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.db == nil {
		target, err := infra.HostPort(p.env.DatabaseURL())
		if err != nil {
			return "", "", err
		}
		px, err := fault.NewProxyWith(target, fault.Options{
			Inspect:     p.watch.Postgres,
			Fuse:        p.fuse,
			TargetEnded: p.databaseLost,
		})
		if err != nil {
			return "", "", fmt.Errorf("start database proxy for %s: %w", p.Name, err)
		}
		if p.dead {
			px.Refuse(true)
		}
		p.db = px
	}
	return plainText(withHost(p.env.DatabaseURL(), p.db.Addr())), schema, nil
}

// Pool returns this process's database pool: through its proxy, with search_path set to the test's schema.
// The first call creates the schema if needed. The pool is closed at cleanup.
func (p *Process) Pool() *pgxpool.Pool {
	p.env.T.Helper()
	p.env.Schema()
	pool, err := p.openPool()
	if err != nil {
		p.env.T.Fatal(err)
	}
	return pool
}

func (p *Process) openPool() (*pgxpool.Pool, error) {
	if err := p.inProcess("Pool"); err != nil {
		return nil, err
	}
	p.mu.Lock()
	pool := p.pool
	p.mu.Unlock()
	if pool != nil {
		return pool, nil
	}
	u, schema, err := p.databaseURL()
	if err != nil {
		return nil, err
	}
	pool, err = newPool(u, schema)
	if err != nil {
		return nil, fmt.Errorf("database pool for %s: %w", p.Name, err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pool != nil {
		pool.Close()
		return p.pool, nil
	}
	p.pool = pool
	return pool, nil
}

// labelProcess is the goroutine label that ties a service loop (and every goroutine it starts) to its process, so a
// stack dump can say which process a stuck goroutine belongs to.
const labelProcess = "msglabs.process"

// Go runs a service loop for this process. The loop should return when ctx is done. An error other than the
// process's own death is written to the timeline (and returned by Err) so a failure story shows it.
func (p *Process) Go(run func(ctx context.Context) error) {
	if err := p.inProcess("Go"); err != nil {
		p.env.T.Fatal(err)
	}
	p.mu.Lock()
	if p.running == 0 {
		p.idle = make(chan struct{})
	}
	p.running++
	p.mu.Unlock()
	go func() {
		defer p.loopDone()
		pprof.Do(p.ctx, pprof.Labels(labelProcess, p.Name), func(ctx context.Context) {
			if err := run(ctx); err != nil && p.ctx.Err() == nil {
				p.failed(err)
			}
		})
	}()
}

// failed records an error a service loop returned.
func (p *Process) failed(err error) {
	p.env.Log(p.Name, "stopped with error: %v", err)
	p.mu.Lock()
	p.errs = append(p.errs, err)
	p.mu.Unlock()
}

func (p *Process) loopDone() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.running--
	if p.running == 0 {
		close(p.idle)
	}
}

// Err returns the errors service loops returned (for a spawned process: the error its role returned, or how it
// exited), joined.
func (p *Process) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return errors.Join(p.errs...)
}

// CrashOn arms a wire-level crash: when the process's traffic matches t (fault.AfterCommitTo("charges", 1),
// fault.BeforeAckOf("m-1"), …), all its links freeze at that instant, then the process is killed. Arm it before the
// traffic it waits for can happen. It works for processes from Env.Process and Env.Spawn alike.
func (p *Process) CrashOn(t fault.Trigger) {
	p.env.T.Helper()
	if t.OnDatabase() && tlsRequired(p.env.DatabaseURL()) {
		p.env.T.Fatalf("%s cannot crash %s: its database connections must be encrypted (sslmode in %s), and the "+
			"harness cannot read encrypted traffic", p.Name, t, infra.Redact(p.env.DatabaseURL()))
	}
	p.watch.Arm(t)
}

// crash is what an armed crash point calls: the process dies where it stands.
func (p *Process) crash(point string) {
	p.fuse.Blow(fmt.Sprintf("CRASHED at %q (injected: the process dies here)", point))
}

// Kill makes the process die now, as if its host lost power: nothing it sends from now on arrives, connections
// vanish without acks, open transactions roll back, and it cannot reconnect. A spawned process gets SIGKILL.
func (p *Process) Kill() { p.fuse.Blow(killedByTest) }

// killedByTest is why a process killed by Kill died.
const killedByTest = "killed by the test"

// frozen runs once the fuse has blown (crash point, trigger, Kill): it tells the timeline why, and finishes the
// process off.
func (p *Process) frozen(reason string) {
	kind := story.Crash
	if reason == killedByTest {
		kind = story.Kill
	}
	// A trigger describes a message by its full routing key or exchange; the story uses the test's short names.
	reason = strings.ReplaceAll(reason, p.env.prefix+".", "")
	p.env.Event(story.Entry{Actor: p.Name, Kind: kind, Text: reason})
	p.finish()
	close(p.crashed)
}

// finish makes the process dead: its proxies refuse and cut, a child is killed, its context is cancelled.
func (p *Process) finish() {
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
	if p.child != nil {
		p.child.kill()
	}
	p.cancel()
}

// Dead reports whether the process crashed, was killed, or (spawned) exited.
func (p *Process) Dead() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.dead
}

// databaseLost is told when the database ended one of the process's connections by itself: not the attendee's code
// (INFRA), unless the test cut it.
func (p *Process) databaseLost(e fault.End) {
	if e.Said != "" {
		p.env.Log(p.Name, "the database ended a connection: %s", e.Said)
	}
	p.env.LostLink(infra.PostgreSQL, p.Name)
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

// Slow adds latency to the process's broker link in one direction (fault.Up: what it sends, fault.Down: what it
// receives): every chunk is delayed by d from now on, on open and new connections; 0 removes it. A chunk already
// on its way is timed again with d: a long delay, then 0, holds what is in flight until the test lets it go.
func (p *Process) Slow(dir fault.Direction, d time.Duration) {
	px, err := p.brokerProxy()
	if err != nil {
		return
	}
	px.Slow(dir, d)
	what := map[fault.Direction]string{fault.Up: "what it sends to", fault.Down: "what it receives from"}[dir]
	if d == 0 {
		p.env.Log(p.Name, "%s the broker is no longer delayed", what)
		return
	}
	p.env.Log(p.Name, "%s the broker is delayed by %v (injected)", what, d)
}

// Wait blocks until every loop started with Go has returned (true), or limit passes (false).
func (p *Process) Wait(limit time.Duration) bool {
	p.mu.Lock()
	if p.running == 0 {
		p.mu.Unlock()
		return true
	}
	idle := p.idle
	p.mu.Unlock()
	t := time.NewTimer(limit)
	defer t.Stop()
	select {
	case <-idle:
		return true
	case <-t.C:
		return false
	}
}

// shutdown stops the process at cleanup: cancel, close connections, wait for loops (or the child), close proxies.
func (p *Process) shutdown() {
	if p.child != nil {
		p.child.shutdown()
	} else {
		p.stopLoops()
	}
	p.mu.Lock()
	mq, db := p.mq, p.db
	p.mu.Unlock()
	for _, px := range []*fault.Proxy{mq, db} {
		if px != nil {
			_ = px.Close()
		}
	}
}

// stopLoops ends an in-process process: its loops must return within Patience once ctx is cancelled, or the test
// says where they are stuck.
func (p *Process) stopLoops() {
	p.cancel()
	p.mu.Lock()
	conns, pool := p.conns, p.pool
	p.mu.Unlock()
	for _, c := range conns {
		closeWithin(c, closeLimit)
	}
	if !p.Wait(Patience) {
		p.env.T.Errorf("%s: a service loop did not return within %v after the test ended (does it watch ctx.Done()?)%s",
			p.Name, Patience, stuckAt(goroutinesOf(p.Name)))
		return // a stuck loop may hold a pooled connection: closing the pool would wait for it forever
	}
	if pool != nil {
		pool.Close()
	}
}

// closeLimit bounds how long cleanup waits for a service's connection to close. A healthy broker answers in
// milliseconds; a connection whose library is wedged (a Notify listener nobody reads blocks its reader) never does,
// and the proxies are closed next anyway.
const closeLimit = time.Second

// closeWithin closes c, waiting at most limit for the broker's answer; a close still waiting then is left to finish
// (or not) when the proxy closes.
func closeWithin(c *amqp.Connection, limit time.Duration) {
	done := make(chan struct{})
	go func() {
		_ = c.Close()
		close(done)
	}()
	t := time.NewTimer(limit)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
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

// tlsRequired reports whether a database URL insists on TLS (sslmode=require or verify-*).
func tlsRequired(rawURL string) bool {
	u, err := url.Parse(rawURL)
	if err != nil {
		return false
	}
	switch u.Query().Get("sslmode") {
	case "require", "verify-ca", "verify-full":
		return true
	}
	return false
}

// plainText makes a database URL through a proxy speak without TLS (the proxy is on loopback, and the database
// triggers must read the traffic), unless the URL insists on TLS (sslmode=require or verify-*).
func plainText(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return rawURL
	}
	if tlsRequired(rawURL) {
		return rawURL
	}
	q := u.Query()
	q.Set("sslmode", "disable")
	u.RawQuery = q.Encode()
	return u.String()
}
