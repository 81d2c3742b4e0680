package harness

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"msglabs/shared/fault"
	"msglabs/shared/shop"
	"msglabs/shared/story"
)

func TestMain(m *testing.M) {
	Main(m, Roles{
		"dedup":       runDedup,
		"biller":      runBiller,
		"hang":        runHang,
		"panics":      runPanics,
		"exits":       runExits,
		"caller":      runCaller,
		"grandparent": runGrandparent,
	})
}

// consume runs handle for every delivery on the queue given as Arg("queue"), with manual acks and prefetch 1.
func consume(ctx context.Context, s *Service, handle func(amqp.Delivery) error) error {
	ch, err := s.MustDial().Channel()
	if err != nil {
		return err
	}
	defer ch.Close()
	if err := ch.Qos(1, 0, false); err != nil {
		return err
	}
	deliveries, err := ch.ConsumeWithContext(ctx, s.Arg("queue"), "", false, false, false, false, nil)
	if err != nil {
		return err
	}
	for d := range deliveries {
		if err := handle(d); err != nil {
			return err
		}
		if err := d.Ack(false); err != nil {
			return err
		}
	}
	return nil
}

// seen is what "dedup" remembers in memory, in a package-level variable: the wrong fix of a lab 5 attendee.
var (
	seenMu sync.Mutex
	seen   = map[string]bool{}
)

// runDedup records every message in handled, once per message as far as its memory goes, and then acks it.
func runDedup(ctx context.Context, s *Service) error {
	pool := s.Pool()
	return consume(ctx, s, func(d amqp.Delivery) error {
		seenMu.Lock()
		known := seen[d.MessageId]
		seen[d.MessageId] = true
		seenMu.Unlock()
		if known {
			s.Logf("%s is in my memory: not handled again", d.MessageId)
			return nil
		}
		_, err := pool.Exec(ctx, `INSERT INTO handled (message_id) VALUES ($1)`, d.MessageId)
		return err
	})
}

// runBiller charges the order of each message in one transaction, then, with Arg("publish") set, publishes
// OrderBilled there with a confirm and records that in sent, then acks.
func runBiller(ctx context.Context, s *Service) error {
	pool := s.Pool()
	var pub *amqp.Channel
	if s.Arg("publish") != "" {
		var err error
		if pub, err = s.MustDial().Channel(); err != nil {
			return err
		}
		if err := pub.Confirm(false); err != nil {
			return err
		}
	}
	return consume(ctx, s, func(d amqp.Delivery) error {
		tx, err := pool.Begin(ctx)
		if err != nil {
			return err
		}
		defer tx.Rollback(context.Background())
		if _, err := tx.Exec(ctx, `INSERT INTO charges (message_id) VALUES ($1)`, d.MessageId); err != nil {
			return err
		}
		if err := tx.Commit(ctx); err != nil {
			return err
		}
		if pub == nil {
			return nil
		}
		body, _ := shop.Encode(shop.OrderBilled{OrderID: "o-1"})
		dc, err := pub.PublishWithDeferredConfirmWithContext(ctx, "", s.Arg("publish"), false, false,
			amqp.Publishing{MessageId: "billed-" + d.MessageId, Type: "OrderBilled", Body: body})
		if err != nil {
			return err
		}
		if ok, err := dc.WaitContext(ctx); !ok || err != nil {
			return fmt.Errorf("confirm: %v %w", ok, err)
		}
		_, err = pool.Exec(ctx, `INSERT INTO sent (message_id) VALUES ($1)`, d.MessageId)
		return err
	})
}

// runHang never finishes handling m-stuck, and does not care that its context ends.
func runHang(ctx context.Context, s *Service) error {
	return consume(ctx, s, func(d amqp.Delivery) error {
		if d.MessageId == "m-stuck" {
			hangForever()
		}
		return nil
	})
}

// hangLine is where hangForever blocks; the stuck story must name it.
var hangLine = func() int { return lineOf("hangForever") }()

// A gate holds hangForever (and hangServing) until the test opens it; in a spawned process nobody ever does.
type gate struct {
	mu sync.Mutex
	ch chan struct{}
}

// channel is the gate's current channel: receiving from it waits until the gate opens.
func (g *gate) channel() chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ch == nil {
		g.ch = make(chan struct{})
	}
	return g.ch
}

// open lets everyone waiting go, and closes the gate again behind them.
func (g *gate) open() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ch != nil {
		close(g.ch)
	}
	g.ch = make(chan struct{})
}

var handlerGate, httpGate gate

func hangForever() {
	<-handlerGate.channel() // the line after hangForever's opening brace
}

func hangServing() {
	<-httpGate.channel() // the line after hangServing's opening brace
}

func runPanics(ctx context.Context, s *Service) error {
	return consume(ctx, s, func(d amqp.Delivery) error {
		explode(d.MessageId)
		return nil
	})
}

func explode(id string) { panic("boom on " + id) }

func runExits(ctx context.Context, s *Service) error {
	return consume(ctx, s, func(d amqp.Delivery) error {
		fmt.Println("leaving now")
		os.Exit(3)
		return nil
	})
}

// runCaller asks the test before each message, and hits a crash point after the answer.
func runCaller(ctx context.Context, s *Service) error {
	return consume(ctx, s, func(d amqp.Delivery) error {
		s.Logf("the test said %q about %s", s.Call("before-write", d.MessageId), d.MessageId)
		s.Points.At(fault.AfterReceive)
		return nil
	})
}

// runGrandparent starts a long sleep as its own child, the way Spawn starts children, and says its pid.
func runGrandparent(ctx context.Context, s *Service) error {
	cmd := exec.Command("sleep", "60")
	cmd.SysProcAttr = childAttrs()
	if err := startChild(cmd); err != nil {
		return err
	}
	s.Logf("grandchild pid %d", cmd.Process.Pid)
	<-ctx.Done()
	_ = cmd.Process.Kill()
	_, _ = cmd.Process.Wait()
	return nil
}

// lineOf finds the line of the first statement of func name in this file, so assertions survive edits above it.
func lineOf(name string) int {
	src, err := os.ReadFile("spawn_test.go")
	if err != nil {
		return 0
	}
	lines := strings.Split(string(src), "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "func "+name+"(") {
			return i + 2
		}
	}
	return 0
}

// queueWith declares a durable queue for the test and publishes the given message ids to it.
func queueWith(t *testing.T, env *Env, ids ...string) string {
	t.Helper()
	q := env.Name("work")
	ch, err := env.Process("setup").MustDial().Channel()
	if err != nil {
		t.Fatal(err)
	}
	declareQueue(t, ch, q)
	pub := env.Publisher("test")
	for _, id := range ids {
		pub.SendWithID(id, "", q, shop.BillOrder{OrderID: "o-1", Cents: 100})
	}
	return q
}

func waitConsuming(t *testing.T, env *Env, q string, n int) {
	t.Helper()
	if !env.WaitConsumers(q, n) {
		t.Fatalf("%d consumer(s) on %s never showed up\n%s", n, env.Short(q), env.Timeline)
	}
}

func waitClosed(t *testing.T, what string, ch <-chan struct{}) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(Patience):
		t.Fatalf("%s did not happen within %v", what, Patience)
	}
}

// A package-level seen-set "works" across a restart in the test's own process, and across two instances there,
// because goroutines share memory. Across a Spawn restart, or two spawned instances, it is gone: the message is
// handled again. This is why tests where memory could cheat run their services with Spawn.
func TestMemoryIsGoneAfterASpawnRestart(t *testing.T) {
	for _, c := range []struct {
		name    string
		start   func(env *Env, args Args) *Process
		handled int
	}{
		{"goroutine restart", func(env *Env, args Args) *Process { return env.InProcess("dedup", args) }, 1},
		{"spawn restart", func(env *Env, args Args) *Process { return env.Spawn("dedup", args) }, 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			seenMu.Lock()
			clear(seen)
			seenMu.Unlock()
			env := New(t)
			env.Exec(`CREATE TABLE handled (message_id text)`)
			q := queueWith(t, env, "m-1")
			first := c.start(env, Args{"queue": q})
			first.CrashOn(fault.AfterCommitTo("handled", 1))
			waitClosed(t, "the crash after the first commit", first.Crashed())
			waitConsuming(t, env, q, 0)
			c.start(env, Args{"queue": q})
			env.Settle(func() bool { return env.Deliveries("m-1") >= 2 && env.Unacked() == 0 }, q)
			if n := env.Int(`SELECT count(*) FROM handled`); n != c.handled {
				t.Fatalf("m-1 handled %d times after a %s, want %d\n%s", n, c.name, c.handled, env.Timeline)
			}
		})
	}
	t.Run("two spawned instances", func(t *testing.T) {
		env := New(t)
		env.Exec(`CREATE TABLE handled (message_id text)`)
		q := queueWith(t, env)
		a := env.Spawn("dedup", Args{"queue": q})
		b := env.Spawn("dedup", Args{"queue": q})
		waitConsuming(t, env, q, 2)
		a.CrashOn(fault.BeforeAckOf("m-1")) // a handles m-1 and dies: the copy goes to b
		b.CrashOn(fault.BeforeAckOf("m-1"))
		pub := env.Publisher("test")
		pub.SendWithID("m-1", "", q, shop.BillOrder{OrderID: "o-1"})
		env.Eventually(func() bool { return a.Dead() || b.Dead() })
		env.Settle(func() bool { return env.Int(`SELECT count(*) FROM handled`) >= 2 }, q)
		if n := env.Int(`SELECT count(*) FROM handled`); n != 2 {
			t.Fatalf("m-1 handled %d times by two spawned instances after the first died before its ack, want 2\n%s",
				n, env.Timeline)
		}
	})
}

// Every wire-level trigger, on a service in the test's process and on a spawned one: it fires on the service's own
// traffic, whatever the code does, and freezes all of its links (broker and database) at once.
func TestWireTriggersFreezeEveryLink(t *testing.T) {
	type outcome struct{ charges, sent, billed int }
	for _, c := range []struct {
		name    string
		trigger fault.Trigger
		want    outcome
		words   string
	}{
		{"after-delivery", fault.AfterDeliveryOf("m-1", 1), outcome{0, 0, 0}, "CRASHED right after it received m-1 for the 1st time"},
		{"before-commit", fault.BeforeCommitTo("charges", 1), outcome{0, 0, 0}, "CRASHED just before its 1st transaction that wrote to charges could commit"},
		{"after-commit", fault.AfterCommitTo("charges", 1), outcome{1, 0, 0}, "CRASHED right after its 1st transaction that wrote to charges committed"},
		{"before-publish", fault.BeforePublishOf(fault.Msg{Type: "OrderBilled"}), outcome{1, 0, 0}, "CRASHED just before its publish of OrderBilled left"},
		{"after-confirm", fault.AfterConfirmOf("billed-m-1"), outcome{1, 0, 1}, "CRASHED right after the broker's confirm of billed-m-1 reached it"},
		{"before-ack", fault.BeforeAckOf("m-1"), outcome{1, 1, 1}, "CRASHED just before its ack of m-1 left"},
	} {
		for _, how := range []string{"in-process", "spawned"} {
			t.Run(how+"/"+c.name, func(t *testing.T) {
				env := New(t)
				env.Exec(`CREATE TABLE charges (message_id text); CREATE TABLE sent (message_id text)`)
				billed := env.Name("billed")
				q := queueWith(t, env)
				ch, err := env.Process("setup").MustDial().Channel()
				if err != nil {
					t.Fatal(err)
				}
				declareQueue(t, ch, billed)
				args := Args{"queue": q, "publish": billed}
				var p *Process
				if how == "spawned" {
					p = env.Spawn("biller", args)
				} else {
					p = env.InProcess("biller", args)
				}
				p.CrashOn(c.trigger)
				waitConsuming(t, env, q, 1)
				env.Publisher("sales").SendWithID("m-1", "", q, shop.BillOrder{OrderID: "o-1"})
				waitClosed(t, "the crash", p.Crashed())
				waitConsuming(t, env, q, 0)
				got := outcome{env.Int(`SELECT count(*) FROM charges`), env.Int(`SELECT count(*) FROM sent`), env.MustDepth(billed)}
				if got != c.want || env.MustDepth(q) != 1 {
					t.Fatalf("after %s: charges %d, sent %d, OrderBilled published %d, m-1 back in its queue %d; "+
						"want %d, %d, %d, 1\n%s", c.trigger, got.charges, got.sent, got.billed, env.MustDepth(q),
						c.want.charges, c.want.sent, c.want.billed, env.Timeline)
				}
				if tl := env.Timeline.String(); !strings.Contains(tl, c.words) {
					t.Fatalf("the timeline does not say %q\n%s", c.words, tl)
				}
			})
		}
	}
}

// A crash point in a spawned service asks the test, which kills the process there; Call reaches the test's handler.
func TestSpawnedPointsAndCalls(t *testing.T) {
	env := New(t)
	q := queueWith(t, env)
	p := env.Spawn("caller", Args{"queue": q})
	asked := make(chan string, 2)
	p.On("before-write", func(id string) string { asked <- id; return "go ahead" })
	p.Points.ArmNth(fault.AfterReceive, 2)
	waitConsuming(t, env, q, 1)
	pub := env.Publisher("sales")
	pub.SendWithID("m-1", "", q, shop.BillOrder{OrderID: "o-1"})
	pub.SendWithID("m-2", "", q, shop.BillOrder{OrderID: "o-2"})
	waitClosed(t, "the crash at the second visit", p.Crashed())
	if id := <-asked; id != "m-1" {
		t.Fatalf("the first call was about %q, want m-1", id)
	}
	waitConsuming(t, env, q, 0)
	// The broker can drop the consumer before the proxy's recorder writes the lost link down: wait for that line.
	const requeued = `caller connection lost: the broker requeues 1 unacked message(s): m-2`
	env.Eventually(func() bool { return strings.Contains(squash(env.Timeline.String()), requeued) })
	tl := squash(env.Timeline.String())
	for _, want := range []string{
		`caller the test said "go ahead" about m-1`,
		`caller acked m-1`,
		`caller CRASHED at "after-receive"`,
		requeued,
	} {
		if !strings.Contains(tl, want) {
			t.Errorf("timeline lacks %q\n%s", want, tl)
		}
	}
	if p.Points.Hits(fault.AfterReceive) != 2 || env.MustDepth(q) != 1 {
		t.Fatalf("hits %d, depth %d: want 2 visits and m-2 back in the queue", p.Points.Hits(fault.AfterReceive), env.MustDepth(q))
	}
	if _, err := p.Dial(); !errors.Is(err, errSpawned) {
		t.Fatalf("Dial on a spawned process: %v", err)
	}
}

// A child that panics or exits by itself says so in the timeline, with the lab's file and line.
func TestSpawnedExitStories(t *testing.T) {
	for _, c := range []struct{ role, want string }{
		{"panics", fmt.Sprintf("exited with status 2: panic: boom on m-1 (at spawn_test.go:%d in explode)", lineOf("explode")-1)},
		{"exits", `exited with status 3 before its role returned (os.Exit in the code?); its last words: "leaving now"`},
	} {
		t.Run(c.role, func(t *testing.T) {
			env := New(t)
			q := queueWith(t, env, "m-1")
			p := env.Spawn(c.role, Args{"queue": q})
			waitClosed(t, c.role+" to exit", p.Exited())
			if tl := env.Timeline.String(); !strings.Contains(tl, c.role+"  "+c.want) && !strings.Contains(squash(tl), c.role+" "+c.want) {
				t.Fatalf("the timeline does not say %q\n%s", c.want, tl)
			}
			if p.Err() == nil || !p.Dead() {
				t.Fatalf("an abnormal exit left Err %v, Dead %v", p.Err(), p.Dead())
			}
		})
	}
}

// A handler that never finishes is the story of the failing test: STALLED, who holds which message, and where it is
// stuck, in well under the checker's 15 s, for a spawned and an in-process service.
func TestStuckHandlerIsTheStory(t *testing.T) {
	t.Parallel()
	for _, how := range []string{"spawned", "in-process"} {
		t.Run(how, func(t *testing.T) {
			t.Parallel() // each waits Patience for a handler that never finishes: wait together
			start := time.Now()
			env := New(t)
			q := queueWith(t, env, "m-stuck")
			var p *Process
			if how == "spawned" {
				p = env.Spawn("hang", Args{"queue": q})
			} else {
				p = env.InProcess("hang", Args{"queue": q})
			}
			if !env.Eventually(func() bool { return env.Deliveries("m-stuck") == 1 }) {
				t.Fatalf("m-stuck was never delivered\n%s", env.Timeline)
			}
			env.Settle(func() bool { return env.Unacked() == 0 }, q)
			msg := failureOf(env, func() { env.Fail(story.Lost, "order o-1 was never billed") })
			want := fmt.Sprintf("STALLED: %s received m-stuck and never finished handling it: stuck at spawn_test.go:%d in hangForever", p.Name, hangLine)
			if !strings.HasPrefix(msg, want) || !strings.Contains(msg, "then found LOST: order o-1 was never billed") {
				t.Fatalf("story:\n%s\nwant it to start with %q", msg, want)
			}
			if took := time.Since(start); took > 15*time.Second {
				t.Fatalf("the verdict took %v", took)
			}
			if how == "in-process" {
				handlerGate.open() // a spawned one died of its SIGQUIT; this one lets its goroutine go
			}
		})
	}
}

// An HTTP handler that never returns is the story too, through env.ServeHTTP's bounded wait.
func TestStuckHTTPHandlerIsTheStory(t *testing.T) {
	t.Parallel()
	env := New(t)
	start := time.Now()
	stuck := http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hangServing() })
	msg := failureOf(env, func() { env.ServeHTTP("clientui", stuck, httptest.NewRequest(http.MethodPost, "/orders", nil)) })
	defer httpGate.open()
	want := fmt.Sprintf("STALLED: clientui's handler for POST /orders never returned (waited %v): stuck at spawn_test.go:%d in hangServing", Patience, lineOf("hangServing"))
	if !strings.HasPrefix(msg, want) {
		t.Fatalf("story:\n%s\nwant it to start with %q", msg, want)
	}
	if took := time.Since(start); took > 15*time.Second {
		t.Fatalf("the verdict took %v", took)
	}
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusAccepted) })
	if rec := env.ServeHTTP("clientui", ok, httptest.NewRequest(http.MethodPost, "/orders", nil)); rec.Code != http.StatusAccepted {
		t.Fatalf("a handler that returns answered %d", rec.Code)
	}
}

// A test that calls a Labelled handler itself, with its own deadline, can ask where the handler hangs.
func TestStuckAtNamesTheLabLineOfAHungHandler(t *testing.T) {
	stuck := Labelled("clientui", http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hangServing() }))
	go stuck.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/orders", nil))
	defer httpGate.open()
	want := fmt.Sprintf(": stuck at spawn_test.go:%d in hangServing", lineOf("hangServing"))
	var got string
	for deadline := time.Now().Add(Patience); time.Now().Before(deadline) && got != want; time.Sleep(5 * time.Millisecond) {
		got = StuckAt("clientui")
	}
	if got != want {
		t.Fatalf("StuckAt = %q, want %q", got, want)
	}
	if other := StuckAt("billing"); other != "" {
		t.Fatalf("StuckAt of an actor with no handler running = %q, want \"\"", other)
	}
}

// failureOf runs fail and returns the message it would have stopped the test with.
func failureOf(env *Env, fail func()) string {
	real := env.T
	ft := &fakeTB{TB: real}
	env.T = ft
	defer func() { env.T = real }()
	func() {
		defer func() { recover() }()
		fail()
	}()
	return ft.msg
}

// The child dies with the test: when the line to it closes (the test process is gone) it exits at once, and a
// process it starts the way Spawn does is killed by the kernel when it dies (Pdeathsig).
func TestChildrenDieWithTheirParent(t *testing.T) {
	env := New(t)
	p := env.Spawn("grandparent", nil)
	var pid int
	if !env.Eventually(func() bool {
		for _, e := range env.Timeline.Entries() {
			if n, ok := strings.CutPrefix(e.Text, "grandchild pid "); ok {
				pid, _ = strconv.Atoi(n)
				return true
			}
		}
		return false
	}) {
		t.Fatalf("the grandparent never said its child's pid\n%s", env.Timeline)
	}
	p.child.sendMu.Lock()
	p.child.pipe.Close() // as if the test process were gone
	p.child.sendMu.Unlock()
	waitClosed(t, "the child's exit after its line closed", p.Exited())
	if code := p.child.cmd.ProcessState.ExitCode(); code != exitOrphaned {
		t.Fatalf("the orphaned child exited with %d, want %d", code, exitOrphaned)
	}
	if !env.Eventually(func() bool { return syscall.Kill(pid, 0) != nil }) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		t.Fatalf("process %d outlived the child that started it", pid)
	}
}

// FailWrites fails exactly the next n writes to a table, from any connection, naming the injection.
func TestFailWrites(t *testing.T) {
	env := New(t)
	env.Exec(`CREATE TABLE charges (id int)`)
	fw := env.FailWrites("charges", 2)
	pool := env.Process("billing").Pool()
	ctx := env.Context()
	var errs []string
	for i := range 3 {
		if _, err := pool.Exec(ctx, `INSERT INTO charges VALUES ($1)`, i); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) != 2 || !strings.Contains(errs[0], "injected fault: the test made this write to charges fail (env.FailWrites, 1 of 2)") {
		t.Fatalf("errors %q, want the first two writes refused by the injection", errs)
	}
	if n := env.Int(`SELECT count(*) FROM charges`); n != 1 || fw.Failed() != 2 {
		t.Fatalf("%d rows, %d failed: want 1 and 2", n, fw.Failed())
	}
	env.FailWrites("charges", 1)
	if _, err := pool.Exec(ctx, `UPDATE charges SET id = 7`); err == nil {
		t.Fatal("a second FailWrites did not start a new count")
	}
}

// Slow delays what the process receives from the broker.
func TestSlowDelaysTheBrokerLink(t *testing.T) {
	env := New(t)
	q := queueWith(t, env)
	p := env.Process("billing")
	const delay = 300 * time.Millisecond
	ch, err := p.MustDial().Channel()
	if err != nil {
		t.Fatal(err)
	}
	deliveries, err := ch.Consume(q, "", true, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	p.Slow(fault.Down, delay)
	sent := time.Now()
	env.Publisher("sales").SendWithID("m-1", "", q, shop.BillOrder{OrderID: "o-1"})
	select {
	case <-deliveries:
		if took := time.Since(sent); took < delay {
			t.Fatalf("delivered after %v through a link slowed by %v", took, delay)
		}
	case <-time.After(Patience):
		t.Fatal("nothing delivered through the slowed link")
	}
}

// A database connection the server ends by itself, unasked, makes the failing test's story INFRA.
func TestLostDatabaseLinkIsInfra(t *testing.T) {
	env := New(t)
	p := env.Process("billing")
	pool := p.Pool()
	ctx := env.Context()
	var pid int
	if err := pool.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
		t.Fatal(err)
	}
	env.Strings(`SELECT pg_terminate_backend($1)::text`, pid)
	if !env.Eventually(func() bool { return strings.Contains(env.Timeline.Full(), "ended from the PostgreSQL side") }) {
		t.Fatalf("the harness never noticed the lost link\n%s", env.Timeline.Full())
	}
	msg := failureOf(env, func() { env.Fail(story.Lost, "order o-1 was never billed") })
	if !strings.HasPrefix(msg, "INFRA: PostgreSQL ended the connection of billing mid-run") ||
		!strings.Contains(msg, "the database ended a connection: FATAL: terminating connection due to administrator command") {
		t.Fatalf("story:\n%s", msg)
	}
	env.mu.Lock()
	env.lost = nil // the story was told; the test itself passes
	env.mu.Unlock()
}

// Wait that times out leaves no goroutine behind.
func TestWaitDoesNotLeak(t *testing.T) {
	env := New(t)
	p := env.Process("billing")
	release := make(chan struct{})
	p.Go(func(ctx context.Context) error { <-release; return nil })
	before := runtime.NumGoroutine()
	for range 20 {
		if p.Wait(time.Millisecond) {
			t.Fatal("Wait returned true with a loop running")
		}
	}
	if after := runtime.NumGoroutine(); after > before+2 {
		t.Fatalf("%d goroutines after 20 timed-out Waits, %d before", after, before)
	}
	close(release)
	if !p.Wait(Patience) {
		t.Fatal("Wait did not see the loop return")
	}
}

// BenchmarkSpawnUntilConsuming is what a Spawn costs a test: from the call to the broker counting the new consumer.
// go test -run '^$' -bench SpawnUntilConsuming ./shared/harness (add -race for what lab runs pay).
func BenchmarkSpawnUntilConsuming(b *testing.B) {
	env := New(b)
	env.Exec(`CREATE TABLE handled (message_id text)`)
	q := env.Name("work")
	ch, err := env.Process("setup").MustDial().Channel()
	if err != nil {
		b.Fatal(err)
	}
	if _, err := ch.QueueDeclare(q, true, false, false, false, nil); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		p := env.Spawn("dedup", Args{"queue": q})
		for deadline := time.Now().Add(Patience); ; time.Sleep(time.Millisecond) { // finer than Eventually's back-off
			if _, n, err := env.QueueDepth(q); err == nil && n == 1 {
				break
			}
			if time.Now().After(deadline) {
				b.Fatal("the spawned service never consumed")
			}
		}
		b.StopTimer()
		p.Kill()
		env.WaitConsumers(q, 0)
		b.StartTimer()
	}
}
