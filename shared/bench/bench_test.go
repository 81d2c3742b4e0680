package bench

import (
	"context"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"msglabs/shared/harness"
)

// runTimeout bounds one benchmark iteration (or the helpers' test) so a broken broker fails instead of hanging.
const runTimeout = 2 * time.Minute

// BenchmarkRawPublishConsume is the baseline: a publisher with Window confirms outstanding and a manual-ack consumer
// (prefetch Window) move PerRun persistent 1 KiB messages through a durable queue, on direct connections (no proxy).
func BenchmarkRawPublishConsume(b *testing.B) {
	env := harness.New(b)
	exchange, queue := env.Name("events"), env.Name("raw")
	pubCh, conCh := channels(b, env)
	if err := DeclareQueue(pubCh, exchange, queue, "bench"); err != nil {
		b.Fatal(err)
	}
	if err := pubCh.Confirm(false); err != nil { // noWait=false
		b.Fatal(err)
	}
	body := Payload(MessageSize)
	var busy time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		busy += moveOnce(b, pubCh, conCh, exchange, queue, body, PerRun)
	}
	b.ReportMetric(float64(b.N*PerRun)/busy.Seconds(), "msgs/s")
}

// BenchmarkRawDrain is the consumer-side baseline that lab 7's consumers are compared with: PerRun persistent 1 KiB
// messages wait in a durable queue and one manual-ack consumer (prefetch Window) drains them. Filling is not timed.
func BenchmarkRawDrain(b *testing.B) {
	env := harness.New(b)
	exchange, queue := env.Name("events"), env.Name("raw-drain")
	pubCh, conCh := channels(b, env)
	if err := DeclareQueue(pubCh, exchange, queue, "bench"); err != nil {
		b.Fatal(err)
	}
	if err := pubCh.Confirm(false); err != nil { // noWait=false
		b.Fatal(err)
	}
	body := Payload(MessageSize)
	var busy time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
		if err := Publish(ctx, pubCh, exchange, "bench", body, PerRun, Window); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		if err := Drain(ctx, conCh, queue, PerRun, Window); err != nil {
			b.Fatal(err)
		}
		busy += time.Since(start)
		cancel()
	}
	b.ReportMetric(float64(b.N*PerRun)/busy.Seconds(), "msgs/s")
}

// TestPublishAndDrain checks the helpers on a few hundred messages (more than one confirm window).
func TestPublishAndDrain(t *testing.T) {
	env := harness.New(t)
	exchange, queue := env.Name("events"), env.Name("raw")
	pubCh, conCh := channels(t, env)
	if err := DeclareQueue(pubCh, exchange, queue, "bench"); err != nil {
		t.Fatal(err)
	}
	if err := pubCh.Confirm(false); err != nil { // noWait=false
		t.Fatal(err)
	}
	moveOnce(t, pubCh, conCh, exchange, queue, Payload(MessageSize), 3*Window/2)
	if n := env.MustDepth(queue); n != 0 {
		t.Fatalf("%d messages left in the queue after draining", n)
	}
}

// moveOnce publishes n messages while a consumer drains them, and returns how long that took.
func moveOnce(tb testing.TB, pubCh, conCh *amqp.Channel, exchange, queue string, body []byte, n int) time.Duration {
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	start := time.Now()
	drained := make(chan error, 1)
	go func() { drained <- Drain(ctx, conCh, queue, n, Window) }()
	if err := Publish(ctx, pubCh, exchange, "bench", body, n, Window); err != nil {
		tb.Fatal(err)
	}
	if err := <-drained; err != nil {
		tb.Fatal(err)
	}
	return time.Since(start)
}

// channels opens a publisher and a consumer channel, each on its own direct connection (closed at cleanup).
func channels(tb testing.TB, env *harness.Env) (pub, con *amqp.Channel) {
	tb.Helper()
	open := func() *amqp.Channel {
		conn, err := amqp.Dial(env.AMQPURL())
		if err != nil {
			tb.Fatalf("INFRA: connect to RabbitMQ: %v", err)
		}
		tb.Cleanup(func() { _ = conn.Close() })
		ch, err := conn.Channel()
		if err != nil {
			tb.Fatal(err)
		}
		return ch
	}
	return open(), open()
}
