// Package bench measures how fast messages move through RabbitMQ with the guarantees the labs teach: persistent
// messages, publisher confirms, manual acks. Its helpers are shared by the benchmarks of this package (the raw
// baseline) and of the labs (an outbox relay, competing consumers), so every figure is measured against the same
// publisher and the same consumer.
//
// Run the benchmarks with `go test -run '^$' -bench . ./shared/bench`; `go test` alone runs only the helpers' tests.
package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	amqp "github.com/rabbitmq/amqp091-go"
)

const (
	// MessageSize is the body size of every benchmark message: 1 KiB.
	MessageSize = 1024
	// Window is how many publisher confirms a benchmark publisher keeps outstanding, and the consumer's prefetch.
	Window = 256
	// PerRun is how many messages one benchmark iteration moves; msgs/s is reported over all iterations.
	PerRun = 10000
)

// Payload returns a body of n filler bytes.
func Payload(n int) []byte { return bytes.Repeat([]byte{'x'}, n) }

// Publish sends n persistent copies of body to exchange with key on ch, keeping at most window confirms
// outstanding: once window publishes are unconfirmed it waits for the oldest before sending the next. It returns when
// every message is confirmed; a negative confirm is an error. ch must be in confirm mode and is used by this goroutine
// only (a Channel is not safe for concurrent use).
func Publish(ctx context.Context, ch *amqp.Channel, exchange, key string, body []byte, n, window int) error {
	outstanding := make([]*amqp.DeferredConfirmation, 0, window)
	waitOldest := func() error {
		ok, err := outstanding[0].WaitContext(ctx)
		if err != nil {
			return fmt.Errorf("wait for confirm: %w", err)
		}
		if !ok {
			return errors.New("the broker refused a message (negative confirm)")
		}
		outstanding = outstanding[1:]
		return nil
	}
	for i := 0; i < n; i++ {
		if len(outstanding) == window {
			if err := waitOldest(); err != nil {
				return err
			}
		}
		dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, exchange, key,
			false, // mandatory
			false, // immediate
			amqp.Publishing{DeliveryMode: amqp.Persistent, ContentType: "application/octet-stream", Body: body})
		if err != nil {
			return fmt.Errorf("publish: %w", err)
		}
		outstanding = append(outstanding, dc)
	}
	for len(outstanding) > 0 {
		if err := waitOldest(); err != nil {
			return err
		}
	}
	return nil
}

// Drain consumes n messages from queue on ch with manual acks (one ack per message) and a prefetch of prefetch, then
// cancels its consumer. It returns when n messages have been acked, or with ctx's error. ch is used by this goroutine
// only.
func Drain(ctx context.Context, ch *amqp.Channel, queue string, n, prefetch int) error {
	if err := ch.Qos(prefetch, 0, false); err != nil { // prefetchCount, prefetchSize, global
		return fmt.Errorf("set prefetch: %w", err)
	}
	tag := fmt.Sprintf("bench-drain-%d", drains.Add(1)) // unique: a late cancel of an old consumer must not hit this one
	deliveries, err := ch.ConsumeWithContext(ctx, queue,
		tag,   // consumer tag
		false, // autoAck
		false, // exclusive
		false, // noLocal
		false, // noWait
		nil)
	if err != nil {
		return fmt.Errorf("consume %q: %w", queue, err)
	}
	defer ch.Cancel(tag, false) // noWait=false
	for got := 0; got < n; got++ {
		select {
		case d, ok := <-deliveries:
			if !ok {
				return fmt.Errorf("consumer on %q closed after %d of %d messages", queue, got, n)
			}
			if err := d.Ack(false); err != nil {
				return fmt.Errorf("ack: %w", err)
			}
		case <-ctx.Done():
			return fmt.Errorf("drained %d of %d messages: %w", got, n, ctx.Err())
		}
	}
	return nil
}

// drains numbers the consumers Drain starts.
var drains atomic.Int64

// DeclareQueue declares a durable queue bound to a durable topic exchange with key, the shape every benchmark uses.
func DeclareQueue(ch *amqp.Channel, exchange, queue, key string) error {
	err := ch.ExchangeDeclare(exchange, amqp.ExchangeTopic,
		true,  // durable
		false, // autoDelete
		false, // internal
		false, // noWait
		nil)
	if err != nil {
		return fmt.Errorf("declare exchange %q: %w", exchange, err)
	}
	_, err = ch.QueueDeclare(queue,
		true,  // durable
		false, // autoDelete
		false, // exclusive
		false, // noWait
		nil)
	if err != nil {
		return fmt.Errorf("declare queue %q: %w", queue, err)
	}
	if err := ch.QueueBind(queue, key, exchange, false, nil); err != nil { // noWait=false
		return fmt.Errorf("bind queue %q: %w", queue, err)
	}
	return nil
}
