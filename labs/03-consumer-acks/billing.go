package acks

import (
	"context"
	"fmt"
	"log"

	"github.com/jackc/pgx/v5/pgxpool"
	amqp "github.com/rabbitmq/amqp091-go"

	"msglabs/shared/shop"
)

// You do not need to edit this file: it is Billing's work for one order. The way Billing takes orders off its
// queue is in consumer.go.

// Schema is Billing's ledger: one row per order charged.
const Schema = `CREATE TABLE charges (
	order_id text NOT NULL,
	cents    int  NOT NULL
)`

// Cards is the payment provider Billing charges. A failed Charge took no money; trying again later is fine.
type Cards interface {
	Charge(ctx context.Context, orderID string, cents int) error
}

// Billing charges orders and records each charge in its ledger. A Billing is safe for concurrent use; each
// consumer loop opens its own channel.
type Billing struct {
	DB    *pgxpool.Pool
	Cards Cards
	Logf  func(format string, args ...any) // where Billing reports problems; nil means the standard logger
}

// logf reports a problem through Logf, or the standard logger.
func (b *Billing) logf(format string, args ...any) {
	if b.Logf == nil {
		log.Printf("billing: "+format, args...)
		return
	}
	b.Logf(format, args...)
}

// Bill charges the customer's card for an order and records the charge.
func (b *Billing) Bill(ctx context.Context, cmd shop.BillOrder) error {
	if err := b.Cards.Charge(ctx, cmd.OrderID, cmd.Cents); err != nil {
		return fmt.Errorf("charge card for %s: %w", cmd.OrderID, err)
	}
	_, err := b.DB.Exec(ctx, `INSERT INTO charges (order_id, cents) VALUES ($1, $2)`, cmd.OrderID, cmd.Cents)
	if err != nil {
		return fmt.Errorf("record charge for %s: %w", cmd.OrderID, err)
	}
	return nil
}

// DeclareBillingQueue declares Billing's queue of BillOrder commands: durable, so it (and the persistent messages in
// it) survive a broker restart. Declaring is idempotent, so senders and Billing may all do it.
func DeclareBillingQueue(ch *amqp.Channel, queue string) error {
	_, err := ch.QueueDeclare(queue,
		true,  // durable
		false, // autoDelete
		false, // exclusive
		false, // noWait
		nil)
	if err != nil {
		return fmt.Errorf("declare queue %q: %w", queue, err)
	}
	return nil
}
