package retries

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
	amqp "github.com/rabbitmq/amqp091-go"

	"msglabs/shared/shop"
)

// You do not need to edit this file: it is Billing's business logic and the names of its queues. The retry policy
// lives in consumer.go.

// ErrTryLater is the payment gateway's "429 Too Many Requests: try later". It is transient: the same charge will
// work once the gateway has caught its breath.
var ErrTryLater = errors.New("payment gateway: 429 too many requests, try later")

// RetriesHeader counts how many delayed retries a message has had (missing on the first delivery).
const RetriesHeader = "billing-retries"

// ErrorQueue is where Billing parks the messages it gave up on, for a human to look at and replay.
func ErrorQueue(queue string) string { return queue + ".error" }

// Schema is Billing's table of charges: one row per order charged.
const Schema = `CREATE TABLE charges (
	order_id text PRIMARY KEY,
	cents    int  NOT NULL
)`

// Billing charges orders through the payment gateway and records each charge once. A Billing is safe for
// concurrent use.
type Billing struct {
	DB  *pgxpool.Pool
	Pay func(ctx context.Context, order shop.BillOrder) error // the gateway call; may answer ErrTryLater
}

// Handle processes one BillOrder delivery. It does not ack: the consumer does that.
func (b *Billing) Handle(ctx context.Context, d amqp.Delivery) error {
	var order shop.BillOrder
	if err := shop.Decode(d.Body, &order); err != nil {
		return err
	}
	if err := b.Pay(ctx, order); err != nil {
		return fmt.Errorf("charge order %s: %w", order.OrderID, err)
	}
	_, err := b.DB.Exec(ctx,
		`INSERT INTO charges (order_id, cents) VALUES ($1, $2) ON CONFLICT (order_id) DO NOTHING`,
		order.OrderID, order.Cents)
	if err != nil {
		return fmt.Errorf("record charge for %s: %w", order.OrderID, err)
	}
	return nil
}
