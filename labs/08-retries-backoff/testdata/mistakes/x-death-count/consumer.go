// Mistake x-death-count: the retry count is read from the broker's x-death header, which also counts dead-letterings that were not Billing's retries
// Why an attendee writes it: the broker already counts how often a message was dead-lettered, so a header of one's own looks redundant.

package retries

import (
	"context"
	"errors"
	"fmt"
	"strconv"

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

// Setup declares the queues Billing needs: its main queue, one delay queue per delayed retry whose expired messages
// dead-letter back to the main queue, and the error queue. Billing runs it at start-up; Sales declares the main
// queue the same way.
func (c *Consumer) Setup(ch *amqp.Channel) error {
	if err := declareQueue(ch, c.Queue, nil); err != nil {
		return err
	}
	for n := 1; n <= DelayedRetries; n++ {
		err := declareQueue(ch, delayQueue(c.Queue, n), amqp.Table{
			"x-dead-letter-exchange":    "",      // the default exchange…
			"x-dead-letter-routing-key": c.Queue, // …routes expired messages back to the main queue
		})
		if err != nil {
			return err
		}
	}
	return declareQueue(ch, ErrorQueue(c.Queue), nil)
}

// delayQueue names the queue holding messages that wait for delayed retry number n.
func delayQueue(queue string, n int) string { return fmt.Sprintf("%s.delay-%d", queue, n) }

// Run consumes c.Queue on conn until ctx is done: it acks each message Handle succeeds with, and hands the ones it
// fails on to a delay queue or, after the last retry, to the error queue.
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
		false, // autoAck: we ack after the charge is recorded, or after the broker holds the retry
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

// process handles one delivery and settles it: ack on success; otherwise forward a copy for a later retry (or to the
// error queue) and ack the original once the broker has confirmed the copy. A forward that fails puts the original
// back in the queue and Billing goes on with the next message; only a publishing channel that is gone ends Run
// (the process then restarts with fresh channels).
func (c *Consumer) process(ctx context.Context, pub *amqp.Channel, d amqp.Delivery) error {
	if c.Handle(ctx, d) != nil { // the try failed: pass it on
		if err := c.forward(ctx, pub, d); err != nil {
			if ctx.Err() != nil {
				return nil // shutting down: the broker requeues what we did not settle
			}
			if nackErr := d.Nack(false, true); nackErr != nil { // multiple=false, requeue=true: keep it, try again
				return fmt.Errorf("nack %s: %w", d.MessageId, nackErr)
			}
			if pub.IsClosed() || errors.Is(err, amqp.ErrClosed) {
				return err
			}
			return nil
		}
	}
	if err := d.Ack(false); err != nil { // multiple=false
		return fmt.Errorf("ack %s: %w", d.MessageId, err)
	}
	return nil
}

// forward publishes a copy of d to the delay queue of its next retry, or to the error queue once the delayed retries
// are used up, and waits for the broker's confirm.
func (c *Consumer) forward(ctx context.Context, pub *amqp.Channel, d amqp.Delivery) error {
	done := deathsOf(d.Headers) // the broker counts the dead-letterings itself
	msg := copyOf(d)
	queue := ErrorQueue(c.Queue)
	if done < DelayedRetries {
		queue = delayQueue(c.Queue, done+1)
		msg.Headers[RetriesHeader] = int64(done + 1)
		msg.Expiration = strconv.FormatInt(withJitter(RetryDelay(done+1)).Milliseconds(), 10) // held this long, then back
	}
	dc, err := pub.PublishWithDeferredConfirmWithContext(ctx,
		"",    // exchange: the default exchange routes by queue name
		queue, // routing key
		false, // mandatory
		false, // immediate
		msg)
	if err != nil {
		return fmt.Errorf("forward %s to %q: %w", d.MessageId, queue, err)
	}
	if ok, err := dc.WaitContext(ctx); err != nil || !ok {
		return fmt.Errorf("forward %s to %q: not confirmed (ok=%v, err=%v)", d.MessageId, queue, ok, err)
	}
	return nil
}

// deathsOf is how many times the broker dead-lettered the message, from its x-death header.
func deathsOf(h amqp.Table) int {
	deaths, _ := h["x-death"].([]any)
	n := 0
	for _, death := range deaths {
		if t, ok := death.(amqp.Table); ok {
			if c, ok := t["count"].(int64); ok {
				n += int(c)
			}
		}
	}
	return n
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
