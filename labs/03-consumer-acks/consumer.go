package acks

import (
	"context"
	"fmt"

	amqp "github.com/rabbitmq/amqp091-go"

	"msglabs/shared/shop"
)

// Consume takes BillOrder commands from Billing's queue and bills each one, until ctx is done. It opens its own
// channel on conn (owned by the caller) and is the only goroutine that uses it: a Channel is not safe for
// concurrent use, so every consumer loop gets a channel of its own.
func (b *Billing) Consume(ctx context.Context, conn *amqp.Connection, queue string) error {
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open channel: %w", err)
	}
	defer ch.Close()
	if err := DeclareBillingQueue(ch, queue); err != nil {
		return err
	}
	// TODO(lab): with autoAck the broker forgets each message the moment it sends it. If Billing dies before the
	// order is billed, or billing fails, nobody has the order any more. The broker must keep each order until Billing
	// has dealt with it, and Billing must tell the broker, for every delivery, what became of it.
	deliveries, err := ch.ConsumeWithContext(ctx, queue,
		"",    // consumer tag: let the library choose
		true,  // autoAck: the broker considers each message done as soon as it is sent
		false, // exclusive
		false, // noLocal
		false, // noWait
		nil)
	if err != nil {
		return fmt.Errorf("consume %q: %w", queue, err)
	}
	for d := range deliveries {
		if err := b.handle(ctx, d); err != nil {
			b.logf("could not bill %s: %v", d.MessageId, err)
		}
	}
	return nil
}

// handle bills the order one delivery asks for.
func (b *Billing) handle(ctx context.Context, d amqp.Delivery) error {
	var cmd shop.BillOrder
	if err := shop.Decode(d.Body, &cmd); err != nil {
		return err
	}
	return b.Bill(ctx, cmd)
}
