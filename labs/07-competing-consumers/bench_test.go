// Do not edit: this benchmark measures the consumer; it is not part of the lab's verdict (`make bench` runs it).

package competing

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"msglabs/shared/bench"
	"msglabs/shared/harness"
	"msglabs/shared/story"
)

// benchConsumers is how many competing consumers drain the queue, each with its own channel on one connection. The
// rest of the benchmark's shape (message size, how many, confirms in flight, prefetch) is shared/bench's, so the
// figure compares with BenchmarkRawPublishConsume there.
const benchConsumers = 2

// BenchmarkDrain measures how fast benchConsumers Consumers (prefetch bench.Window) with a handler that does nothing
// drain a queue of bench.PerRun persistent messages of bench.MessageSize bytes, in messages per second. It talks to
// the broker directly (no proxy, no timeline), like the raw amqp091-go baseline it is compared with. Filling the
// queue is not timed.
func BenchmarkDrain(b *testing.B) {
	env := harness.New(b)
	conn, err := amqp.Dial(env.AMQPURL())
	if err != nil {
		b.Fatalf("%s: connect to RabbitMQ: %v", story.Infra, err)
	}
	defer conn.Close()
	var elapsed time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		queue := env.Name(fmt.Sprintf("drain-%d", i))
		fill(b, conn, queue)
		b.StartTimer()
		start := time.Now()
		drain(b, conn, queue)
		elapsed += time.Since(start)
	}
	b.ReportMetric(float64(bench.PerRun*b.N)/elapsed.Seconds(), "msgs/s")
}

// fill declares a plain durable queue (Billing's own is bounded far below bench.PerRun) and publishes bench.PerRun
// persistent messages to it with shared/bench's publisher, at most bench.Window unconfirmed at a time.
func fill(b *testing.B, conn *amqp.Connection, queue string) {
	b.Helper()
	ch, err := conn.Channel()
	if err != nil {
		b.Fatalf("open channel: %v", err)
	}
	defer ch.Close()
	_, err = ch.QueueDeclare(queue,
		true,  // durable
		false, // autoDelete
		false, // exclusive
		false, // noWait
		nil)
	if err != nil {
		b.Fatalf("declare queue: %v", err)
	}
	if err := ch.Confirm(false); err != nil { // noWait=false
		b.Fatalf("confirm mode: %v", err)
	}
	body := bench.Payload(bench.MessageSize)
	if err := bench.Publish(context.Background(), ch, "", queue, body, bench.PerRun, bench.Window); err != nil {
		b.Fatalf("fill %q: %v", queue, err)
	}
}

// drain runs the consumers until every message has been handled and the queue is empty, then stops them.
func drain(b *testing.B, conn *amqp.Connection, queue string) {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var handled atomic.Int64
	done := make(chan struct{})
	handle := func(context.Context, amqp.Delivery) error {
		if handled.Add(1) == bench.PerRun {
			close(done)
		}
		return nil
	}
	var wg sync.WaitGroup
	errs := make(chan error, benchConsumers)
	for range benchConsumers {
		c := &Consumer{Queue: queue, Prefetch: bench.Window, Handle: handle}
		wg.Go(func() { errs <- c.Run(ctx, conn) })
	}
	select {
	case <-done:
	case err := <-errs:
		b.Fatalf("a consumer stopped: %v", err)
	case <-time.After(4 * harness.Patience):
		b.Fatalf("only %d of %d messages handled", handled.Load(), bench.PerRun)
	}
	cancel()
	wg.Wait()
}
