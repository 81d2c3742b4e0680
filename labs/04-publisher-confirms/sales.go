package confirms

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
	amqp "github.com/rabbitmq/amqp091-go"

	"msglabs/shared/shop"
)

// You do not need to edit this file: Sales' consumer already acks each order after storing it (lab 3). Only
// ClientUI (clientui.go) still takes the broker's word for granted.

// Schema is Sales' table of accepted orders.
const Schema = `CREATE TABLE orders (
	id       text PRIMARY KEY,
	customer text NOT NULL,
	cents    int  NOT NULL
)`

// SalesQueue describes Sales' queue of PlaceOrder commands: durable, and capped at MaxLength waiting messages. When
// it is full the broker refuses new messages (x-overflow: reject-publish) rather than fill its disk while Sales is
// down; the operations team chose that limit.
type SalesQueue struct {
	Name      string
	MaxLength int
}

// DeclareSalesQueue declares Sales' queue. Declaring is idempotent (with the same arguments), so ClientUI and Sales
// may both do it.
func DeclareSalesQueue(ch *amqp.Channel, q SalesQueue) error {
	_, err := ch.QueueDeclare(q.Name,
		true,  // durable
		false, // autoDelete
		false, // exclusive
		false, // noWait
		amqp.Table{
			"x-max-length": int32(q.MaxLength), // at most this many ready messages
			"x-overflow":   "reject-publish",   // when full, refuse new ones (a negative confirm in confirm mode)
		})
	if err != nil {
		return fmt.Errorf("declare queue %q: %w", q.Name, err)
	}
	return nil
}

// Sales accepts orders and stores them. A Sales is safe for concurrent use.
type Sales struct {
	DB *pgxpool.Pool
}

// Consume takes PlaceOrder commands from Sales' queue until ctx is done, acking each one after it is stored. It owns
// the channel it opens on conn.
func (s *Sales) Consume(ctx context.Context, conn *amqp.Connection, q SalesQueue) error {
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open channel: %w", err)
	}
	defer ch.Close()
	if err := DeclareSalesQueue(ch, q); err != nil {
		return err
	}
	deliveries, err := ch.ConsumeWithContext(ctx, q.Name,
		"",    // consumer tag: let the library choose
		false, // autoAck: we ack after the order is stored
		false, // exclusive
		false, // noLocal
		false, // noWait
		nil)
	if err != nil {
		return fmt.Errorf("consume %q: %w", q.Name, err)
	}
	for d := range deliveries {
		if err := s.settle(ctx, d); err != nil {
			return err
		}
	}
	return nil
}

// settle stores the order one delivery carries and acks it; a failure sends it back to the queue.
func (s *Sales) settle(ctx context.Context, d amqp.Delivery) error {
	var cmd shop.PlaceOrder
	if err := shop.Decode(d.Body, &cmd); err != nil {
		return d.Reject(false) // requeue=false: a malformed command will never parse (lab 9 does better)
	}
	_, err := s.DB.Exec(ctx,
		`INSERT INTO orders (id, customer, cents) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING`,
		cmd.OrderID, cmd.Customer, cmd.Cents)
	if err != nil {
		return d.Nack(false, true) // multiple=false, requeue=true: try again
	}
	return d.Ack(false)
}
