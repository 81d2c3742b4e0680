package competing

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	amqp "github.com/rabbitmq/amqp091-go"

	"msglabs/shared/shop"
)

// You do not need to edit this file: it is Billing's business logic. The plumbing around it (consumer.go, sales.go,
// metrics.go) is where this lab happens.

// MaxBacklog is the most BillOrder commands the shop lets wait in Billing's queue. At Billing's normal pace that is a
// few seconds of work; a longer queue only means customers wait longer and the broker holds more in memory.
const MaxBacklog = 20

// SentAtHeader carries the moment Sales sent a command, in Unix milliseconds. (The AMQP timestamp property only has
// whole seconds, too coarse to tell how long a message has been waiting.)
const SentAtHeader = "sent-at-ms"

// Schema is Billing's table of charges: one row per order charged.
const Schema = `CREATE TABLE charges (
	order_id text PRIMARY KEY,
	cents    int  NOT NULL
)`

// Billing charges orders. Charge is the call to the payment provider (slow, sometimes failing, sometimes stuck);
// the charge is then recorded. Charging the same order twice records it once. A Billing is safe for concurrent use.
type Billing struct {
	DB     *pgxpool.Pool
	Charge func(ctx context.Context, order shop.BillOrder) error
}

// Handle processes one BillOrder delivery. It does not ack: whoever consumes does that.
func (b *Billing) Handle(ctx context.Context, d amqp.Delivery) error {
	var order shop.BillOrder
	if err := shop.Decode(d.Body, &order); err != nil {
		return err
	}
	if err := b.Charge(ctx, order); err != nil {
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

// SentAt reads when a message was sent from its SentAtHeader; ok is false when the header is missing.
func SentAt(headers amqp.Table) (at time.Time, ok bool) {
	switch v := headers[SentAtHeader].(type) {
	case int64:
		return time.UnixMilli(v), true
	case string:
		ms, err := strconv.ParseInt(v, 10, 64)
		return time.UnixMilli(ms), err == nil
	}
	return time.Time{}, false
}
