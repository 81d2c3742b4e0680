package outbox

import (
	"context"
	"fmt"
	"log"

	"github.com/jackc/pgx/v5/pgxpool"
	amqp "github.com/rabbitmq/amqp091-go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"msglabs/shared/shop"
)

// You do not need to edit this file: it is Billing, already an idempotent consumer (lab 5). It continues the trace
// it finds in each message's headers, so its span joins the customer's request when the context arrives.

// BillingSchema is Billing's database: its ledger and the ids of the messages it has processed.
const BillingSchema = `
CREATE TABLE charges (
	id         bigserial PRIMARY KEY,
	order_id   text NOT NULL,
	cents      int  NOT NULL,
	message_id text NOT NULL
);
CREATE TABLE processed_messages (
	message_id text PRIMARY KEY
)`

// BillingSpan is the name of the span Billing records for each order it charges.
const BillingSpan = "billing: charge order"

// Billing charges for every OrderPlaced, once per message id. A Billing is safe for concurrent use; each consumer
// loop opens its own channel.
type Billing struct {
	DB         *pgxpool.Pool
	Tracer     trace.Tracer
	Propagator propagation.TextMapPropagator
	Logf       func(format string, args ...any) // where Billing says what it did; nil means the standard logger
}

func (b *Billing) logf(format string, args ...any) {
	if b.Logf == nil {
		log.Printf("billing: "+format, args...)
		return
	}
	b.Logf(format, args...)
}

// DeclareBilling declares Sales' exchange and Billing's durable queue, bound for OrderPlaced.
func DeclareBilling(ch *amqp.Channel, exchange, queue string) error {
	if err := DeclareExchange(ch, exchange); err != nil {
		return err
	}
	_, err := ch.QueueDeclare(queue,
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

// Consume charges for the OrderPlaced events on queue until ctx is done, acking each after its charge committed. It
// opens its own channel on conn (owned by the caller): a Channel is not safe for concurrent use.
func (b *Billing) Consume(ctx context.Context, conn *amqp.Connection, exchange, queue string) error {
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open channel: %w", err)
	}
	defer ch.Close()
	if err := DeclareBilling(ch, exchange, queue); err != nil {
		return err
	}
	deliveries, err := ch.ConsumeWithContext(ctx, queue,
		"",    // consumer tag: let the library choose
		false, // autoAck: ack once charged
		false, // exclusive
		false, // noLocal
		false, // noWait
		nil)
	if err != nil {
		return fmt.Errorf("consume %q: %w", queue, err)
	}
	for d := range deliveries {
		if err := b.handle(ctx, d); err != nil {
			b.logf("could not process %s: %v", d.MessageId, err)
			_ = d.Nack(false, true) // multiple=false, requeue=true
			continue
		}
		if err := d.Ack(false); err != nil {
			return fmt.Errorf("ack %s: %w", d.MessageId, err)
		}
	}
	return nil
}

// handle charges for one OrderPlaced inside a span that continues the message's trace, if it carries one.
func (b *Billing) handle(ctx context.Context, d amqp.Delivery) error {
	ctx = b.Propagator.Extract(ctx, HeaderCarrier(d.Headers))
	ctx, span := b.Tracer.Start(ctx, BillingSpan, trace.WithSpanKind(trace.SpanKindConsumer))
	defer span.End()

	var evt shop.OrderPlaced
	if err := shop.Decode(d.Body, &evt); err != nil {
		return err
	}
	span.SetAttributes(attribute.String("order.id", evt.OrderID), attribute.String("messaging.message.id", d.MessageId))
	charged, err := b.charge(ctx, d.MessageId, evt)
	if err != nil {
		return err
	}
	if charged {
		b.logf("charged %s %d cents for %s", evt.OrderID, evt.Cents, d.MessageId)
	} else {
		b.logf("%s was already processed: not charging %s again", d.MessageId, evt.OrderID)
	}
	return nil
}

// charge records the message id and the charge in one transaction; a message id seen before charges nothing.
func (b *Billing) charge(ctx context.Context, messageID string, evt shop.OrderPlaced) (bool, error) {
	tx, err := b.DB.Begin(ctx)
	if err != nil {
		return false, fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback(ctx) // does nothing once committed
	tag, err := tx.Exec(ctx,
		`INSERT INTO processed_messages (message_id) VALUES ($1) ON CONFLICT DO NOTHING`, messageID)
	if err != nil {
		return false, fmt.Errorf("claim %s: %w", messageID, err)
	}
	if tag.RowsAffected() == 0 {
		return false, nil
	}
	_, err = tx.Exec(ctx, `INSERT INTO charges (order_id, cents, message_id) VALUES ($1, $2, $3)`,
		evt.OrderID, evt.Cents, messageID)
	if err != nil {
		return false, fmt.Errorf("charge %s: %w", evt.OrderID, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return false, fmt.Errorf("commit charge of %s: %w", evt.OrderID, err)
	}
	return true, nil
}
