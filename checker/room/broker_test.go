package room

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	amqp "github.com/rabbitmq/amqp091-go"

	"msglabs/shared/infra"
)

// Bounds on waiting in these tests; every wait ends as soon as its condition holds.
const (
	patience     = 10 * time.Second
	pollInterval = 20 * time.Millisecond
)

func hex4(t testing.TB) string {
	t.Helper()
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b[:])
}

func endpoints(t testing.TB) infra.Endpoints {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	eps, err := infra.Resolve(ctx)
	if err != nil {
		t.Fatalf("INFRA: %v", err)
	}
	return eps
}

// testRoom returns a fresh room name; its exchange and queue are deleted at cleanup.
func testRoom(t testing.TB, eps infra.Endpoints) string {
	t.Helper()
	room := "t-" + hex4(t)
	t.Cleanup(func() {
		conn, err := amqp.Dial(eps.AMQP.URL)
		if err != nil {
			t.Errorf("cleanup: %v", err)
			return
		}
		defer conn.Close()
		ch, err := conn.Channel()
		if err != nil {
			return
		}
		_, _ = ch.QueueDelete(Queue(room), false, false, false) // ifUnused, ifEmpty, noWait
		_ = ch.ExchangeDelete(Exchange(room), false, false)     // ifUnused, noWait
	})
	return room
}

// testSchema returns a pool and a fresh schema name, dropped at cleanup.
func testSchema(t testing.TB, eps infra.Endpoints) (*pgxpool.Pool, string) {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), eps.Database.URL)
	if err != nil {
		t.Fatal(err)
	}
	schema := "msglabs_room_t_" + hex4(t)
	t.Cleanup(func() {
		if _, err := pool.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("cleanup: drop schema %s: %v", schema, err)
		}
		pool.Close()
	})
	return pool, schema
}

func channel(t testing.TB, eps infra.Endpoints) *amqp.Channel {
	t.Helper()
	conn, err := amqp.Dial(eps.AMQP.URL)
	if err != nil {
		t.Fatalf("INFRA: RabbitMQ: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", patience, what)
		}
		time.Sleep(pollInterval)
	}
}

func mustPublish(t testing.TB, eps infra.Endpoints, room string, e Event) {
	t.Helper()
	if err := Publish(context.Background(), eps.AMQP.URL, room, e); err != nil {
		t.Fatalf("publish %s's event to room %s: %v", e.Attendee, room, err)
	}
}

func TestPublishReachesTheDashboardQueue(t *testing.T) {
	eps := endpoints(t)
	room := testRoom(t, eps)
	ch := channel(t, eps)
	if err := Declare(ch, room); err != nil {
		t.Fatal(err)
	}
	e := validEvent()
	mustPublish(t, eps, room, e)
	var d amqp.Delivery
	eventually(t, "the event never reached the dashboard's queue", func() bool {
		var ok bool
		d, ok, _ = ch.Get(Queue(room), true) // autoAck
		return ok
	})
	got, err := Decode(d.Body)
	if err != nil || got != e || d.MessageId != e.ID || d.DeliveryMode != amqp.Persistent {
		t.Fatalf("the queue holds %+v (id %q, mode %d, err %v); want %+v, persistent, with its id as message id", got, d.MessageId, d.DeliveryMode, err, e)
	}
}

func TestPublishToAMissingRoomSaysSoQuickly(t *testing.T) {
	eps := endpoints(t)
	room := testRoom(t, eps) // never declared
	start := time.Now()
	err := Publish(context.Background(), eps.AMQP.URL, room, validEvent())
	if !errors.Is(err, ErrNoRoom) {
		t.Fatalf("publish to a room that does not exist: %v, want ErrNoRoom", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("telling that the room is missing took %s, more than 1 s", took)
	}
}

func TestPublishToARoomWithoutDashboardQueue(t *testing.T) {
	eps := endpoints(t)
	room := testRoom(t, eps)
	ch := channel(t, eps)
	if err := ch.ExchangeDeclare(Exchange(room), amqp.ExchangeFanout, true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if err := Publish(context.Background(), eps.AMQP.URL, room, validEvent()); !errors.Is(err, ErrNoServer) {
		t.Fatalf("publish to a room with no queue bound: %v, want ErrNoServer (the broker returned it)", err)
	}
}

func TestPublishToAClosedPortFailsAtOnce(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	start := time.Now()
	err = Publish(context.Background(), "amqp://guest:guest@"+addr+"/", "workshop", validEvent())
	if err == nil || time.Since(start) > time.Second {
		t.Fatalf("publish to a closed port: %v after %s, want an error within 1 s", err, time.Since(start))
	}
}

// A broker address that accepts connections and then says nothing (a black hole on the way) costs at most the budget.
func TestPublishToASilentBrokerGivesUpWithinTheBudget(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var held []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c) // never answered
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	})
	start := time.Now()
	err = Publish(context.Background(), "amqp://guest:guest@"+ln.Addr().String()+"/", "workshop", validEvent())
	took := time.Since(start)
	if err == nil {
		t.Fatal("publish to a broker that never answers succeeded")
	}
	if took > time.Second {
		t.Fatalf("publish to a broker that never answers took %s, more than 1 s (budget %s): %v", took, PublishBudget, err)
	}
}

func env(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }

func TestAnnounceWithoutARoomSendsNothing(t *testing.T) {
	var warn bytes.Buffer
	// The URL cannot be dialled: had Announce tried, it would have failed.
	err := Announce(context.Background(), env(nil), "amqp://guest:guest@127.0.0.1:1/", Run{Lab: "01-temporal-coupling", Result: ResultPass}, time.Now(), &warn)
	if err != nil || warn.Len() != 0 {
		t.Fatalf("without %s: err %v, output %q; want nothing at all", EnvRoom, err, warn.String())
	}
}

func TestAnnounceWithAMissingRoomWarnsOnce(t *testing.T) {
	eps := endpoints(t)
	room := testRoom(t, eps)
	var warn bytes.Buffer
	start := time.Now()
	err := Announce(context.Background(), env(map[string]string{EnvRoom: room, EnvAttendee: "ann"}), eps.AMQP.URL,
		Run{Lab: "05-idempotent-consumer", Step: 1, Result: ResultFail, Marker: "DUPLICATE"}, time.Now(), &warn)
	took := time.Since(start)
	if !errors.Is(err, ErrNoRoom) {
		t.Fatalf("announce to a missing room: %v", err)
	}
	lines := strings.Split(strings.TrimSuffix(warn.String(), "\n"), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], "this run was not shown in room") || !strings.Contains(lines[0], "room serve") {
		t.Errorf("warning: %q; want one line saying the run was not shown and how the room starts", warn.String())
	}
	if took > time.Second {
		t.Errorf("a missing room cost the run %s, more than 1 s", took)
	}
}

func TestAnnounceSendsOnlyTheListedFields(t *testing.T) {
	eps := endpoints(t)
	room := testRoom(t, eps)
	ch := channel(t, eps)
	if err := Declare(ch, room); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	r := Run{Lab: "05-idempotent-consumer", Step: 2, Result: ResultFail, Marker: "DUPLICATE", Hints: 3, Started: now.Add(-90 * time.Second)}
	if err := Announce(context.Background(), env(map[string]string{EnvRoom: room, EnvAttendee: " bob "}), eps.AMQP.URL, r, now, io.Discard); err != nil {
		t.Fatal(err)
	}
	var d amqp.Delivery
	eventually(t, "the announced run never reached the queue", func() bool {
		var ok bool
		d, ok, _ = ch.Get(Queue(room), true)
		return ok
	})
	var fields map[string]any
	if err := json.Unmarshal(d.Body, &fields); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"id": fields["id"], "attendee": "bob", "lab": "05-idempotent-consumer", "step": 2.0, "result": "fail", "marker": "DUPLICATE", "hints": 3.0, "seconds": 90.0}
	if fmt.Sprint(fields) != fmt.Sprint(want) {
		t.Fatalf("the event carries %v, want exactly %v", fields, want)
	}
}

// startDashboard runs a dashboard in this process until the test ends; handled receives each handled event id.
func startDashboard(t testing.TB, eps infra.Endpoints, room string, pool *pgxpool.Pool, schema string) (*Server, <-chan string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	store, err := OpenStore(ctx, pool, schema)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewServer(ctx, room, eps.AMQP.URL, store, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	handled := make(chan string, 100)
	s.afterStore = func(id string) { handled <- id }
	ready, done := make(chan struct{}), make(chan error, 1)
	go func() { done <- s.Consume(ctx, func() { close(ready) }) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("dashboard: %v", err)
		}
	})
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("dashboard did not start: %v", err)
	case <-time.After(patience):
		t.Fatal("dashboard did not start in time")
	}
	return s, handled
}

func waitHandled(t testing.TB, handled <-chan string, ids ...string) {
	t.Helper()
	want := map[string]int{}
	for _, id := range ids {
		want[id]++
	}
	timeout := time.After(patience)
	for len(want) > 0 {
		select {
		case id := <-handled:
			if want[id]--; want[id] <= 0 {
				delete(want, id)
			}
		case <-timeout:
			t.Fatalf("the dashboard never handled %d of the events: %v", len(want), want)
		}
	}
}

func TestDashboardCountsAnEventSentTwiceOnce(t *testing.T) {
	eps := endpoints(t)
	room := testRoom(t, eps)
	pool, schema := testSchema(t, eps)
	s, handled := startDashboard(t, eps, room, pool, schema)
	a, b := validEvent(), validEvent()
	b.Attendee = "bob"
	mustPublish(t, eps, room, a)
	mustPublish(t, eps, room, b)
	mustPublish(t, eps, room, a) // the same event again: a checker that retried, or a broker that redelivered
	waitHandled(t, handled, a.ID, b.ID, a.ID)
	v := s.State.View(time.Now())
	if v.Events != 2 || v.Attendees[0].Cells[0].Runs != 1 {
		t.Fatalf("after ann's event twice and bob's once: %d events, ann's runs %d; want 2 and 1", v.Events, v.Attendees[0].Cells[0].Runs)
	}
}

func TestDashboardDropsWhatIsNotAnEvent(t *testing.T) {
	eps := endpoints(t)
	room := testRoom(t, eps)
	pool, schema := testSchema(t, eps)
	s, handled := startDashboard(t, eps, room, pool, schema)
	ch := channel(t, eps)
	if err := ch.PublishWithContext(context.Background(), Exchange(room), "", false, false, amqp.Publishing{Body: []byte("package main")}); err != nil {
		t.Fatal(err)
	}
	e := validEvent()
	mustPublish(t, eps, room, e)
	waitHandled(t, handled, e.ID) // queues are FIFO: the junk was handled (dropped) before
	if n := s.State.View(time.Now()).Events; n != 1 {
		t.Fatalf("%d events counted, want 1 (the junk message is dropped)", n)
	}
	eventually(t, "the junk message is still in the queue", func() bool {
		q, err := ch.QueueDeclarePassive(Queue(room), true, false, false, false, nil) // durable, autoDelete, exclusive, noWait
		return err == nil && q.Messages == 0
	})
}

func TestAPIAndTokenOverHTTP(t *testing.T) {
	s := &Server{Room: "workshop", State: NewState("workshop"), Now: time.Now}
	s.hub.init()
	s.State.Apply(validEvent(), time.Now())
	srv := newHTTPTest(t, s.Handler("s3cret"))
	if code, _ := get(t, srv+"/api/room"); code != http.StatusUnauthorized {
		t.Errorf("without the token /api/room answered %d, want 401", code)
	}
	code, body := get(t, srv+"/api/room?token=s3cret")
	var v View
	if code != http.StatusOK || json.Unmarshal(body, &v) != nil || v.Events != 1 || v.Attendees[0].Name != "ann" {
		t.Fatalf("with the token: %d %s", code, body)
	}
	if code, body := get(t, srv+"/?token=s3cret"); code != http.StatusOK || !bytes.Contains(body, []byte(`data-attendee="ann"`)) {
		t.Fatalf("the page with the token: %d, has ann: %v", code, bytes.Contains(body, []byte("ann")))
	}
}

func newHTTPTest(t testing.TB, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

func get(t testing.TB, url string) (int, []byte) {
	t.Helper()
	c := http.Client{Timeout: patience}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

// --- the dashboard as a real process, killed and restarted ---

const (
	envChild      = "MSGLABS_ROOM_TEST_CHILD" // set: TestDashboardChild runs a dashboard
	envChildRoom  = "MSGLABS_ROOM_TEST_ROOM"
	envChildDB    = "MSGLABS_ROOM_TEST_SCHEMA"
	envChildCrash = "MSGLABS_ROOM_TEST_CRASH_AFTER" // SIGKILL itself after storing this many events, before the ack
)

// TestDashboardChild is not a test: it is the dashboard process that TestDashboardKilledAndRestarted starts, kills
// and starts again (this test binary, re-executed).
func TestDashboardChild(t *testing.T) {
	if os.Getenv(envChild) == "" {
		t.Skip("runs only as the child of TestDashboardKilledAndRestarted")
	}
	crashAfter := 0
	fmt.Sscan(os.Getenv(envChildCrash), &crashAfter)
	n := 0
	cfg := serveConfig{room: os.Getenv(envChildRoom), listen: "127.0.0.1:0", schema: os.Getenv(envChildDB), eps: endpoints(t),
		afterStore: func(id string) {
			n++
			fmt.Printf("handled %s\n", id)
			if n == crashAfter {
				_ = syscall.Kill(os.Getpid(), syscall.SIGKILL) // stored and counted, not acked
			}
		}}
	if err := serve(context.Background(), cfg, os.Stdout, os.Stderr); err != nil {
		t.Fatal(err)
	}
}

type child struct {
	cmd     *exec.Cmd
	url     string
	handled chan string
	exited  chan struct{} // closed when the process has ended; err is then its exit
	err     error
}

func startChild(t testing.TB, room, schema string, crashAfter int) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestDashboardChild$", "-test.v")
	cmd.Env = append(os.Environ(), envChild+"=1", envChildRoom+"="+room, envChildDB+"="+schema, fmt.Sprintf("%s=%d", envChildCrash, crashAfter))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, handled: make(chan string, 100), exited: make(chan struct{})}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			line := sc.Text()
			if id, ok := strings.CutPrefix(line, "handled "); ok {
				c.handled <- id
			}
			if _, url, ok := strings.Cut(line, "serving "); ok {
				ready <- url
			}
		}
		c.err = cmd.Wait()
		close(c.exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		select {
		case <-c.exited:
		case <-time.After(patience):
		}
	})
	select {
	case c.url = <-ready:
	case <-c.exited:
		t.Fatalf("the dashboard process ended before it was ready: %v", c.err)
	case <-time.After(patience):
		t.Fatal("the dashboard process was not ready in time")
	}
	return c
}

func (c *child) view(t testing.TB) View {
	t.Helper()
	code, body := get(t, strings.TrimSuffix(c.url, "/")+"/api/room")
	var v View
	if code != http.StatusOK || json.Unmarshal(body, &v) != nil {
		t.Fatalf("/api/room: %d %s", code, body)
	}
	return v
}

// The dashboard is SIGKILLed right after it stored (and counted) an event and before it acked it; meanwhile more
// events arrive and one is sent twice. The restarted dashboard shows every event exactly once.
func TestDashboardKilledAndRestartedLosesNothingCountsNothingTwice(t *testing.T) {
	if os.Getenv(envChild) != "" {
		t.Skip("inside the child")
	}
	eps := endpoints(t)
	room := testRoom(t, eps)
	_, schema := testSchema(t, eps)
	var evs []Event
	for i, who := range []string{"ann", "bob", "ann", "bob", "ann", "cem", "bob"} {
		e := ev(who, fmt.Sprintf("%02d-lab", 1+i%3), ResultFail, "LOST", i, int64(60*(i+1)))
		evs = append(evs, e)
	}
	first := startChild(t, room, schema, 3) // dies after storing the 3rd, before acking it
	for _, e := range evs[:5] {
		mustPublish(t, eps, room, e)
	}
	select {
	case <-first.exited:
	case <-time.After(patience):
		t.Fatal("the first dashboard did not crash after its 3rd event")
	}
	if !strings.Contains(fmt.Sprint(first.err), "killed") {
		t.Fatalf("the first dashboard ended with %v, want killed (SIGKILL after storing its 3rd event)", first.err)
	}
	for _, e := range evs[5:] {
		mustPublish(t, eps, room, e) // while no dashboard runs: they wait in the durable queue
	}
	mustPublish(t, eps, room, evs[0]) // sent twice

	second := startChild(t, room, schema, 0)
	// It gets the 3rd again (never acked), the 4th and 5th (delivered to the first, or still queued), the two sent
	// meanwhile, and the duplicate of the 1st.
	var ids []string
	for _, e := range append(evs[2:], evs[0]) {
		ids = append(ids, e.ID)
	}
	waitHandled(t, second.handled, ids...)
	v := second.view(t)
	runs := 0
	for _, a := range v.Attendees {
		for _, c := range a.Cells {
			runs += c.Runs
		}
	}
	if v.Events != len(evs) || runs != len(evs) {
		t.Fatalf("after a kill between store and ack, a restart, and a duplicate: %d events, %d runs in the grid; want %d and %d",
			v.Events, runs, len(evs), len(evs))
	}
	if n := len(v.Attendees); n != 3 {
		t.Errorf("%d attendees in the grid, want ann, bob and cem", n)
	}
}
