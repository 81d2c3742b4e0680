package retries

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	amqp "github.com/rabbitmq/amqp091-go"

	"msglabs/shared/shop"
)

// You do not need to edit this file: it is Billing's business logic, the retry schedule the gateway asks for, and the
// names of its queues. How Billing retries lives in consumer.go.

// ErrTryLater is the payment gateway's "429 Too Many Requests: try later". It is transient: the same charge will
// work once the gateway has caught its breath.
var ErrTryLater = errors.New("payment gateway: 429 too many requests, try later")

// The retry schedule the gateway's owners ask for after a "429 try later" (scaled down from seconds, so that the tests
// run in a second): wait 30 ms before the first delayed retry, three times as long before each next one (30, 90,
// 270 ms), each wait moved by up to ±20% of itself so that a crowd of retries does not come back in step; after the
// third delayed retry fails too, give the order up to a human.
const (
	FirstRetryDelay = 30 * time.Millisecond // the wait before the first delayed retry
	DelayGrowth     = 3                     // each next wait is this many times the one before
	DelayedRetries  = 3                     // how many delayed retries an order gets before the error queue
	Jitter          = 0.2                   // each wait is moved randomly by up to this share of itself, either way
)

// RetryDelay is the wait before delayed retry number n (1 is the first), without jitter: FirstRetryDelay ×
// DelayGrowth^(n-1).
func RetryDelay(n int) time.Duration {
	d := FirstRetryDelay
	for i := 1; i < n; i++ {
		d *= DelayGrowth
	}
	return d
}

// RetriesHeader counts how many delayed retries a message has had (missing on the first delivery).
const RetriesHeader = "billing-retries"

// retriesOf reads RetriesHeader from a message's headers: how many delayed retries it has had (0 without the
// header). The broker hands an integer header back as an int32 or an int64, whichever the publisher sent.
func retriesOf(h amqp.Table) int {
	switch v := h[RetriesHeader].(type) {
	case int32:
		return int(v)
	case int64:
		return int(v)
	}
	return 0
}

// withJitter returns d moved randomly by up to ±Jitter of itself.
func withJitter(d time.Duration) time.Duration {
	spread := (rand.Float64()*2 - 1) * Jitter // in [-Jitter, +Jitter)
	return d + time.Duration(spread*float64(d))
}

// copyOf builds a persistent publishing of the same message as d: its body, its identity (MessageId, CorrelationId,
// Type, ContentType) and its headers, in a fresh map (d's stays untouched), ready to be published again.
func copyOf(d amqp.Delivery) amqp.Publishing {
	headers := amqp.Table{}
	for k, v := range d.Headers {
		headers[k] = v
	}
	return amqp.Publishing{
		MessageId:     d.MessageId,
		CorrelationId: d.CorrelationId,
		Type:          d.Type,
		ContentType:   d.ContentType,
		DeliveryMode:  amqp.Persistent,
		Headers:       headers,
		Body:          d.Body,
	}
}

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
