// Do not edit: this benchmark measures the consumer; it is not part of the lab's verdict (`make bench` runs it).

package competing

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"msglabs/shared/harness"
	"msglabs/shared/story"
)

const (
	benchMessages  = 10_000 // persistent messages waiting in the queue before the consumers start
	benchBodySize  = 1024   // bytes per message
	benchPrefetch  = 256    // a fast handler wants a large prefetch: the broker never waits for an ack to send more
	benchConsumers = 2      // competing consumers, each with its own channel on one connection
	benchWindow    = 256    // publisher confirms outstanding while filling the queue
)

// BenchmarkDrain measures how fast benchConsumers Consumers with a handler that does nothing drain a queue of
// benchMessages persistent 1 KiB messages, in messages per second. It talks to the broker directly (no proxy, no
// timeline), like the raw amqp091-go baseline it is compared with. Filling the queue is not timed.
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
	b.ReportMetric(float64(benchMessages*b.N)/elapsed.Seconds(), "msgs/s")
}

// fill declares a plain durable queue (Billing's own is bounded far below benchMessages) and publishes
// benchMessages persistent messages to it, at most benchWindow unconfirmed at a time.
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
	if err := ch.Confirm(false); err != nil {
		b.Fatalf("confirm mode: %v", err)
	}
	ctx := context.Background()
	body := bytes.Repeat([]byte("x"), benchBodySize)
	var window []*amqp.DeferredConfirmation
	for n := 0; n < benchMessages; n++ {
		dc, err := ch.PublishWithDeferredConfirmWithContext(ctx,
			"",    // exchange: the default exchange routes by queue name
			queue, // routing key
			false, // mandatory
			false, // immediate
			amqp.Publishing{DeliveryMode: amqp.Persistent, Body: body})
		if err != nil {
			b.Fatalf("publish: %v", err)
		}
		if window = append(window, dc); len(window) == benchWindow || n == benchMessages-1 {
			for _, dc := range window {
				if ok, err := dc.WaitContext(ctx); !ok || err != nil {
					b.Fatalf("the broker did not confirm a message (ok=%v, err=%v)", ok, err)
				}
			}
			window = window[:0]
		}
	}
}

// drain runs the consumers until every message has been handled and the queue is empty, then stops them.
func drain(b *testing.B, conn *amqp.Connection, queue string) {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var handled atomic.Int64
	done := make(chan struct{})
	handle := func(context.Context, amqp.Delivery) error {
		if handled.Add(1) == benchMessages {
			close(done)
		}
		return nil
	}
	var wg sync.WaitGroup
	errs := make(chan error, benchConsumers)
	for range benchConsumers {
		c := &Consumer{Queue: queue, Prefetch: benchPrefetch, Handle: handle}
		wg.Go(func() { errs <- c.Run(ctx, conn) })
	}
	select {
	case <-done:
	case err := <-errs:
		b.Fatalf("a consumer stopped: %v", err)
	case <-time.After(4 * harness.Patience):
		b.Fatalf("only %d of %d messages handled", handled.Load(), benchMessages)
	}
	cancel()
	wg.Wait()
}
