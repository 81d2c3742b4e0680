package contracts

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
	amqp "github.com/rabbitmq/amqp091-go"
)

// You do not need to edit this file: Billing charges every placed order once. How it reads OrderPlaced is in
// orderplaced.go.

// Billing consumes OrderPlaced from its queue and records a charge per order. It owns the channel it opens on conn.
type Billing struct {
	DB    *pgxpool.Pool
	Queue string
	Log   func(format string, args ...any)
}

// Consume handles OrderPlaced until ctx is done. A message Billing cannot read is rejected without requeue: it would
// fail the same way forever (lab 9 sends such messages to an error queue instead of dropping them).
func (b *Billing) Consume(ctx context.Context, conn *amqp.Connection) error {
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open channel: %w", err)
	}
	defer ch.Close()
	if err := DeclareQueue(ch, b.Queue); err != nil {
		return err
	}
	deliveries, err := ch.ConsumeWithContext(ctx, b.Queue,
		"",    // consumer tag: let the library choose
		false, // autoAck
		false, // exclusive
		false, // noLocal
		false, // noWait
		nil)
	if err != nil {
		return fmt.Errorf("consume %q: %w", b.Queue, err)
	}
	for d := range deliveries {
		if err := b.handle(ctx, d); err != nil {
			return err
		}
	}
	return nil
}

func (b *Billing) handle(ctx context.Context, d amqp.Delivery) error {
	order, err := ReadOrderPlaced(d)
	if err == nil && (order.OrderID == "" || order.Cents <= 0) {
		err = fmt.Errorf("no order id or no amount in %s", d.MessageId)
	}
	if err != nil {
		b.log("cannot bill %s: %v", d.MessageId, err)
		return d.Reject(false) // requeue=false
	}
	_, err = b.DB.Exec(ctx,
		`INSERT INTO charges (order_id, cents, currency) VALUES ($1, $2, $3) ON CONFLICT (order_id) DO NOTHING`,
		order.OrderID, order.Cents, order.Currency)
	if err != nil {
		b.log("charge for %s failed: %v", order.OrderID, err)
		return d.Nack(false, true) // multiple=false, requeue=true
	}
	b.log("charged %s %d.%02d %s", order.OrderID, order.Cents/100, order.Cents%100, order.Currency)
	return d.Ack(false)
}

func (b *Billing) log(format string, args ...any) {
	if b.Log != nil {
		b.Log(format, args...)
	}
}
