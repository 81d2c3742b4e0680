package idempotent

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/jackc/pgx/v5/pgxpool"
	amqp "github.com/rabbitmq/amqp091-go"
)

// You do not need to edit this file: it is how Billing takes OrderPlaced events off its queue (manual acks, as lab 3
// taught). What Billing does with one event is in billing.go.

// Schema is Billing's database: the ledger of charges, and the ids of the messages Billing has processed.
const Schema = `
CREATE TABLE charges (
	id         bigserial PRIMARY KEY,
	order_id   text NOT NULL,
	cents      int  NOT NULL,
	message_id text NOT NULL
);
CREATE TABLE processed_messages (
	message_id   text PRIMARY KEY,
	processed_at timestamptz NOT NULL DEFAULT now()
)`

// prefetch is how many unacked deliveries the broker hands one Billing instance at a time. One keeps the example
// simple: lab 7 is about tuning it.
const prefetch = 1

// ErrMalformed marks a message that can never be processed (no id, a body that does not parse). The consumer rejects
// it without requeue instead of looping on it (lab 9 does better: an error queue).
var ErrMalformed = errors.New("malformed message")

// Billing charges customers for the orders Sales placed. A Billing is safe for concurrent use; each consumer loop
// opens its own channel, and several Billing instances may consume the same queue (competing consumers).
type Billing struct {
	DB   *pgxpool.Pool
	Logf func(format string, args ...any) // where Billing says what it did; nil means the standard logger
}

// logf reports through Logf, or the standard logger.
func (b *Billing) logf(format string, args ...any) {
	if b.Logf == nil {
		log.Printf("billing: "+format, args...)
		return
	}
	b.Logf(format, args...)
}

// Consume takes OrderPlaced events from Billing's queue until ctx is done: Handle, then ack; nack with requeue when
// Handle failed (the broker delivers it again); reject what is malformed. It opens its own channel on conn (owned by
// the caller) and is the only goroutine using it: a Channel is not safe for concurrent use.
func (b *Billing) Consume(ctx context.Context, conn *amqp.Connection, exchange, queue string) error {
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open channel: %w", err)
	}
	defer ch.Close()
	if err := DeclareBilling(ch, exchange, queue); err != nil {
		return err
	}
	if err := ch.Qos(prefetch, 0, false); err != nil { // prefetchCount, prefetchSize, global
		return fmt.Errorf("set prefetch: %w", err)
	}
	deliveries, err := ch.ConsumeWithContext(ctx, queue,
		"",    // consumer tag: let the library choose
		false, // autoAck: we ack once the order is charged
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

// settle handles one delivery and tells the broker how it went.
func (b *Billing) settle(ctx context.Context, d amqp.Delivery) error {
	err := b.Handle(ctx, d)
	switch {
	case errors.Is(err, ErrMalformed):
		b.logf("rejected %s: %v", d.MessageId, err)
		return d.Reject(false) // requeue=false
	case err != nil:
		b.logf("could not process %s: %v", d.MessageId, err)
		return d.Nack(false, true) // multiple=false, requeue=true: try again
	}
	if err := d.Ack(false); err != nil {
		return fmt.Errorf("ack %s: %w", d.MessageId, err)
	}
	return nil
}

// OrderPlacedKey is the routing key Sales publishes OrderPlaced events with.
const OrderPlacedKey = "OrderPlaced"

// DeclareBilling declares Sales' events exchange (topic, durable) and Billing's durable queue, bound to it for
// OrderPlaced. Declaring is idempotent, so every instance may do it.
func DeclareBilling(ch *amqp.Channel, exchange, queue string) error {
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
	if err := ch.QueueBind(queue, OrderPlacedKey, exchange, false, nil); err != nil { // noWait=false
		return fmt.Errorf("bind queue %q to %q: %w", queue, exchange, err)
	}
	return nil
}
