// Mistake prefetch-zero: the prefetch was set to 0, which does not mean "the default" but "no limit": the stuck instance takes everything
// Why an attendee writes it: zero is Go's "not set" everywhere else, and Qos(0, 0, false) reads like "leave it to the broker".

package competing

import (
	"context"
	"fmt"

	amqp "github.com/rabbitmq/amqp091-go"
)

// Consumer is one instance of a service reading its queue: run as many as you need, on as many machines, and they
// compete for the messages (competing consumers). Each Run owns one channel; a Channel is not safe for concurrent use,
// so a Consumer handles its messages one at a time, in its own goroutine.
type Consumer struct {
	Queue    string
	Prefetch int // how many unacknowledged messages the broker may hand this instance at once
	Handle   func(ctx context.Context, d amqp.Delivery) error
	Metrics  *Metrics // may be nil
}

// Run consumes c.Queue (which must exist: see DeclareBillingQueue in queue.go) on conn until ctx is done, acking each message
// after Handle succeeds and requeueing it when Handle fails.
func (c *Consumer) Run(ctx context.Context, conn *amqp.Connection) error {
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open channel: %w", err)
	}
	defer ch.Close()
	if err := ch.Qos(0, // prefetchCount: the broker's default
		0,     // prefetchSize: no byte limit
		false, // global: the limit applies to each consumer on this channel (there is one)
	); err != nil {
		return fmt.Errorf("set prefetch: %w", err)
	}
	deliveries, err := ch.ConsumeWithContext(ctx, c.Queue,
		"",    // consumer tag: let the library choose
		false, // autoAck: we ack after Handle succeeds
		false, // exclusive: other instances compete for the same queue
		false, // noLocal
		false, // noWait
		nil)
	if err != nil {
		return fmt.Errorf("consume %q: %w", c.Queue, err)
	}
	for d := range deliveries {
		if err := c.settle(d, c.Handle(ctx, d)); err != nil {
			return err
		}
	}
	return nil
}

// settle acks a handled message, or requeues it when handling failed, and counts the outcome.
func (c *Consumer) settle(d amqp.Delivery, handleErr error) error {
	if handleErr != nil {
		c.Metrics.Failed()
		if err := d.Nack(false, true); err != nil { // multiple=false, requeue=true: try again (lab 8 does better)
			return fmt.Errorf("nack %s: %w", d.MessageId, err)
		}
		return nil
	}
	c.Metrics.Processed()
	if err := d.Ack(false); err != nil { // multiple=false
		return fmt.Errorf("ack %s: %w", d.MessageId, err)
	}
	return nil
}
