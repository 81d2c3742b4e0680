// Mistake ack-on-error: a failed charge is logged and acked like a done one, so the broker forgets an order that was
// never charged
// "The error is logged, so someone will see it": every delivery gets its answer, nothing loops, nothing is left unacked.

package acks

import (
	"context"
	"fmt"

	amqp "github.com/rabbitmq/amqp091-go"

	"msglabs/shared/shop"
)

// Consume takes BillOrder commands from Billing's queue and bills each one, until ctx is done. It opens its own
// channel on conn (owned by the caller) and is the only goroutine that uses it: a Channel is not safe for
// concurrent use, so every consumer loop gets a channel of its own, and acks go out on the channel that received.
func (b *Billing) Consume(ctx context.Context, conn *amqp.Connection, queue string) error {
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open channel: %w", err)
	}
	defer ch.Close()
	if err := DeclareBillingQueue(ch, queue); err != nil {
		return err
	}
	deliveries, err := ch.ConsumeWithContext(ctx, queue,
		"",    // consumer tag: let the library choose
		false, // autoAck: the broker keeps each message until we ack it
		false, // exclusive
		false, // noLocal
		false, // noWait
		nil)
	if err != nil {
		return fmt.Errorf("consume %q: %w", queue, err)
	}
	for d := range deliveries {
		if err := b.settle(ctx, d); err != nil {
			return err
		}
	}
	return nil
}

// settle bills the order one delivery asks for, then tells the broker what became of the delivery. It returns an
// error only when the broker cannot be told (the channel is gone): the delivery then goes back to the queue.
func (b *Billing) settle(ctx context.Context, d amqp.Delivery) error {
	var cmd shop.BillOrder
	if err := shop.Decode(d.Body, &cmd); err != nil {
		b.logf("rejected %s, it will never parse: %v", d.MessageId, err)
		return reject(d)
	}
	if err := b.Bill(ctx, cmd); err != nil {
		b.logf("could not bill %s: %v", d.MessageId, err)
	}
	if err := d.Ack(false); err != nil { // multiple=false: just this delivery
		return fmt.Errorf("ack %s: %w", d.MessageId, err)
	}
	return nil
}

// reject drops a delivery that can never be processed (lab 9 parks it in an error queue instead).
func reject(d amqp.Delivery) error {
	if err := d.Reject(false); err != nil { // requeue=false
		return fmt.Errorf("reject %s: %w", d.MessageId, err)
	}
	return nil
}
