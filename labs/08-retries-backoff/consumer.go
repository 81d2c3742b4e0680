package retries

import (
	"context"
	"fmt"

	amqp "github.com/rabbitmq/amqp091-go"
)

// prefetch is one: a charge is slow, so each Billing instance takes one order at a time (lab 7).
const prefetch = 1

// Consumer is one Billing instance reading its queue. Run owns the channels it opens (one to consume, one to
// publish on); a Channel is not safe for concurrent use, so a Consumer handles its messages one at a time, in its own
// goroutine.
type Consumer struct {
	Queue  string // Billing's main queue
	Handle func(ctx context.Context, d amqp.Delivery) error
}

// Setup declares the queues Billing needs. Billing runs it at start-up; Sales declares the main queue the same way.
func (c *Consumer) Setup(ch *amqp.Channel) error {
	// TODO(lab): declare the queues that hold a retry while it waits (step 1), and ErrorQueue(c.Queue) (step 2).
	return declareQueue(ch, c.Queue, nil)
}

// Run consumes c.Queue on conn until ctx is done: it acks each message Handle succeeds with, and deals with the
// ones it fails on.
func (c *Consumer) Run(ctx context.Context, conn *amqp.Connection) error {
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open channel: %w", err)
	}
	defer ch.Close()
	if err := ch.Qos(prefetch, 0, false); err != nil { // prefetchSize 0: no byte limit; global false: per consumer
		return fmt.Errorf("set prefetch: %w", err)
	}
	pub, err := conn.Channel() // this goroutine's publishing channel, for whatever Billing publishes itself
	if err != nil {
		return fmt.Errorf("open channel: %w", err)
	}
	defer pub.Close()
	if err := pub.Confirm(false); err != nil { // noWait=false: every publish on pub gets a confirm (lab 4)
		return fmt.Errorf("confirm mode: %w", err)
	}
	deliveries, err := ch.ConsumeWithContext(ctx, c.Queue,
		"",    // consumer tag: let the library choose
		false, // autoAck: we ack after the charge is recorded
		false, // exclusive
		false, // noLocal
		false, // noWait
		nil)
	if err != nil {
		return fmt.Errorf("consume %q: %w", c.Queue, err)
	}
	for d := range deliveries {
		if err := c.process(ctx, pub, d); err != nil {
			return err
		}
	}
	return nil
}

// process handles one delivery and settles it. pub is the goroutine's publishing channel, in confirm mode.
func (c *Consumer) process(ctx context.Context, pub *amqp.Channel, d amqp.Delivery) error {
	if err := c.Handle(ctx, d); err != nil {
		// TODO(lab): requeueing puts the message straight back at the head of the queue, so Billing calls the
		// gateway again at once, hundreds of times a second, while the gateway is asking for a pause (step 1: the
		// broker holds each retry for the wait RetryDelay gives it). And an order the gateway never takes must end
		// up where a human can see it, not go round forever (step 2: ErrorQueue). Do not sleep here: a sleeping
		// handler holds Billing's only prefetch slot, and every other order waits.
		if err := d.Nack(false, true); err != nil { // multiple=false, requeue=true
			return fmt.Errorf("nack %s: %w", d.MessageId, err)
		}
		return nil
	}
	if err := d.Ack(false); err != nil { // multiple=false
		return fmt.Errorf("ack %s: %w", d.MessageId, err)
	}
	return nil
}

// declareQueue declares a durable queue with the given arguments.
func declareQueue(ch *amqp.Channel, queue string, args amqp.Table) error {
	_, err := ch.QueueDeclare(queue,
		true,  // durable
		false, // autoDelete
		false, // exclusive
		false, // noWait
		args)
	if err != nil {
		return fmt.Errorf("declare queue %q: %w", queue, err)
	}
	return nil
}
