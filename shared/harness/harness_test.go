package harness

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"msglabs/shared/fault"
	"msglabs/shared/shop"
	"msglabs/shared/story"
)

// declareQueue is a tiny helper for these self-tests.
func declareQueue(t *testing.T, ch *amqp.Channel, name string) {
	t.Helper()
	if _, err := ch.QueueDeclare(name, true, false, false, false, nil); err != nil {
		t.Fatalf("declare %s: %v", name, err)
	}
}

// A crash point cuts the process's connection without acking: the real broker redelivers, and the timeline says so.
func TestCrashPointMakesBrokerRedeliver(t *testing.T) {
	env := New(t)
	queue := env.Name("work")
	worker := env.Process("worker")
	conn := worker.MustDial()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	declareQueue(t, ch, queue)
	env.Publisher("test").Send("", queue, shop.BillOrder{OrderID: "o-1", Cents: 100})

	worker.Points.Arm(fault.AfterReceive)
	deliveries, err := ch.Consume(queue, "", false, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	worker.Go(func(ctx context.Context) error {
		for d := range deliveries {
			worker.Points.At(fault.AfterReceive)
			_ = d.Ack(false)
		}
		return nil
	})
	select {
	case <-worker.Points.Crashed():
	case <-time.After(Patience):
		t.Fatal("crash point never fired")
	}
	if !env.Eventually(func() bool { return env.MustDepth(queue) == 1 }) {
		t.Fatalf("the broker did not requeue the unacked message; timeline:\n%s", env.Timeline)
	}
	if _, err := worker.Dial(); !errors.Is(err, ErrDead) {
		t.Fatalf("a dead process could dial again: %v", err)
	}

	restarted := env.Process("worker")
	ch2, err := restarted.MustDial().Channel()
	if err != nil {
		t.Fatal(err)
	}
	d, ok, err := ch2.Get(queue, false)
	if err != nil || !ok || !d.Redelivered || d.MessageId != "m-1" {
		t.Fatalf("get after restart: ok=%v redelivered=%v id=%q err=%v", ok, d.Redelivered, d.MessageId, err)
	}
	_ = d.Ack(false)
	if !env.Eventually(func() bool { return env.Unacked() == 0 }) {
		t.Fatalf("unacked count stuck at %d", env.Unacked())
	}
	tl := squash(env.Timeline.Full())
	for _, want := range []string{
		`test published m-1 BillOrder o-1 → queue "work" (default exchange) (persistent)`,
		`test broker confirmed m-1`,
		`worker consuming from "work" (manual ack)`,
		`worker received m-1 BillOrder o-1 from "work"`,
		`worker CRASHED at "after-receive"`,
		`worker connection lost: the broker requeues 1 unacked message(s): m-1 BillOrder o-1`,
		`worker#2 received m-1 BillOrder o-1 from "work" (REDELIVERED)`,
		`worker#2 acked m-1 BillOrder o-1`,
	} {
		if !strings.Contains(tl, want) {
			t.Errorf("timeline lacks %q\n%s", want, tl)
		}
	}
}

// With auto-ack, the crash loses the message and the timeline explains why.
func TestAutoAckCrashStory(t *testing.T) {
	env := New(t)
	queue := env.Name("work")
	worker := env.Process("worker")
	ch, err := worker.MustDial().Channel()
	if err != nil {
		t.Fatal(err)
	}
	declareQueue(t, ch, queue)
	env.Publisher("test").Send("", queue, shop.BillOrder{OrderID: "o-1"})
	worker.Points.Arm(fault.AfterReceive)
	deliveries, err := ch.Consume(queue, "", true, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	worker.Go(func(ctx context.Context) error {
		for range deliveries {
			worker.Points.At(fault.AfterReceive)
		}
		return nil
	})
	<-worker.Points.Crashed()
	if !env.Eventually(func() bool { return strings.Contains(env.Timeline.Full(), "auto-acked") }) {
		t.Fatalf("no auto-ack explanation:\n%s", env.Timeline)
	}
	if n := env.MustDepth(queue); n != 0 {
		t.Fatalf("depth %d, want 0: an auto-acked message is gone", n)
	}
}

// Confirms, negative confirms and returns are all told.
func TestConfirmNackAndReturnAreRecorded(t *testing.T) {
	env := New(t)
	full := env.Name("full")
	p := env.Process("sales")
	ch, err := p.MustDial().Channel()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ch.QueueDeclare(full, false, false, false, false, amqp.Table{"x-max-length": int32(1), "x-overflow": "reject-publish"}); err != nil {
		t.Fatal(err)
	}
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	returns := ch.NotifyReturn(make(chan amqp.Return, 1))
	ctx := env.Context()
	var oks []bool
	for i := 0; i < 2; i++ {
		dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, "", full, false, false, amqp.Publishing{MessageId: env.NextMessageID(), Body: []byte(`{"order_id":"o-1"}`)})
		if err != nil {
			t.Fatal(err)
		}
		ok, err := dc.WaitContext(ctx)
		if err != nil {
			t.Fatal(err)
		}
		oks = append(oks, ok)
	}
	if !oks[0] || oks[1] {
		t.Fatalf("confirms = %v, want [true false] (reject-publish)", oks)
	}
	dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, "amq.topic", env.Name("nowhere"), true, false, amqp.Publishing{MessageId: "m-x"})
	if err != nil {
		t.Fatal(err)
	}
	_, _ = dc.WaitContext(ctx)
	select {
	case <-returns:
	case <-time.After(Patience):
		t.Fatal("no return")
	}
	tl := env.Timeline.Full()
	for _, want := range []string{"broker confirmed m-1 o-1", "broker REFUSED m-2 o-1", "broker RETURNED m-x (no message id)"} {
		if !strings.Contains(strings.ReplaceAll(tl, " (no message id)", ""), strings.ReplaceAll(want, " (no message id)", "")) {
			t.Errorf("timeline lacks %q\n%s", want, tl)
		}
	}
}

// CutBroker drops the connection; the process may reconnect.
func TestCutBrokerAllowsReconnect(t *testing.T) {
	env := New(t)
	p := env.Process("sales")
	conn := p.MustDial()
	closed := conn.NotifyClose(make(chan *amqp.Error, 1))
	if n := p.CutBroker(); n != 1 {
		t.Fatalf("cut %d connections, want 1", n)
	}
	select {
	case <-closed:
	case <-time.After(Patience):
		t.Fatal("the client did not notice the cut")
	}
	if _, err := p.Dial(); err != nil {
		t.Fatalf("reconnect after a cut: %v", err)
	}
}

// A crash rolls back the open transaction: the database never sees the half-done work.
func TestCrashRollsBackOpenTransaction(t *testing.T) {
	env := New(t)
	env.Exec(`CREATE TABLE charges (order_id text PRIMARY KEY)`)
	p := env.Process("billing")
	pool := p.Pool()
	p.Points.Arm(fault.BeforeCommit)
	p.Go(func(ctx context.Context) error {
		tx, err := pool.Begin(ctx)
		if err != nil {
			return err
		}
		defer tx.Rollback(context.Background())
		if _, err := tx.Exec(ctx, `INSERT INTO charges VALUES ('o-1')`); err != nil {
			return err
		}
		p.Points.At(fault.BeforeCommit)
		return tx.Commit(ctx)
	})
	<-p.Points.Crashed()
	if !p.Wait(Patience) {
		t.Fatal("loop did not stop")
	}
	if n := env.Int(`SELECT count(*) FROM charges`); n != 0 {
		t.Fatalf("%d charges committed, want 0", n)
	}
}

// Failure stories carry the marker first.
func TestExactlyOnceFailsWithStory(t *testing.T) {
	ft := &fakeTB{TB: t}
	env := &Env{T: ft, Timeline: story.NewTimeline()}
	env.Log("billing", "CRASHED at %q", "after-receive")
	func() {
		defer func() { recover() }()
		env.ExactlyOnce(story.Expect{Item: "order", From: "placed", Done: "billed"}, []string{"o-17"}, nil)
	}()
	if !strings.HasPrefix(ft.msg, "LOST: order o-17 was never billed (1 placed, 0 billed)") || !strings.Contains(ft.msg, "CRASHED") {
		t.Fatalf("story:\n%s", ft.msg)
	}
}

type fakeTB struct {
	testing.TB
	msg string
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Fatal(args ...any) {
	f.msg = args[0].(string)
	panic("fatal")
}

// squash folds runs of spaces so assertions do not depend on column widths.
func squash(s string) string { return strings.Join(strings.Fields(s), " ") }
