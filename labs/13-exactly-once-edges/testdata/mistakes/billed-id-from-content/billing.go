// Mistake billed-id-from-content: OrderBilled's id was a hash of what it says (order and amount), so two bills of the same amount for one order were one message to Shipping
// Why an attendee writes it: the same OrderPlaced always produces the same OrderBilled, so hashing the message looks like the most deterministic id of all

package edges

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	amqp "github.com/rabbitmq/amqp091-go"

	"msglabs/shared/shop"
)

// Billing charges for every OrderPlaced and publishes OrderBilled. It is idempotent (lab 5): a redelivered
// OrderPlaced is not charged again. It publishes OrderBilled after its commit, and again for a redelivery, because it
// cannot know whether the first attempt's OrderBilled went out before it died: publishing is at-least-once.
// A Billing is safe for concurrent use; each Consume owns its channel.
type Billing struct {
	DB     *pgxpool.Pool
	Events string // the exchange Billing publishes OrderBilled to
}

// Consume takes OrderPlaced events from queue until ctx is done.
func (b *Billing) Consume(ctx context.Context, conn *amqp.Connection, queue string) error {
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open channel: %w", err)
	}
	defer ch.Close()
	if err := ch.Confirm(false /* noWait */); err != nil {
		return fmt.Errorf("confirm mode: %w", err)
	}
	deliveries, err := consume(ctx, ch, queue)
	if err != nil {
		return err
	}
	for d := range deliveries {
		if err := b.handle(ctx, ch, d); err != nil {
			return err // the channel closes unacked: the broker redelivers
		}
	}
	return nil
}

// handle charges (once), publishes OrderBilled, then acks.
func (b *Billing) handle(ctx context.Context, ch *amqp.Channel, d amqp.Delivery) error {
	var placed shop.OrderPlaced
	if err := shop.Decode(d.Body, &placed); err != nil {
		return d.Reject(false) // requeue=false: it will never parse
	}
	if err := b.charge(ctx, d.MessageId, placed); err != nil {
		return err
	}
	billed := shop.OrderBilled{OrderID: placed.OrderID, Cents: placed.Cents}
	if err := Publish(ctx, ch, b.Events, billedID(billed), billed); err != nil {
		return err
	}
	if err := d.Ack(false); err != nil {
		return fmt.Errorf("ack %s: %w", d.MessageId, err)
	}
	return nil
}

// billingIDs is the namespace of the message ids Billing derives. Any fixed UUID will do; it only has to stay the
// same across restarts and deployments.
var billingIDs = uuid.MustParse("3b8f0f6e-4d0a-4c57-9a43-6a2f1f0b7c1d")

// billedID is the message id of an OrderBilled: a UUIDv5 of what it says, so every attempt publishes the same id.
func billedID(billed shop.OrderBilled) string {
	body, _ := shop.Encode(billed)
	return uuid.NewSHA1(billingIDs, append([]byte("OrderBilled/"), body...)).String()
}

// charge records the message in Billing's inbox and, if it is new, charges the order, in one transaction.
func (b *Billing) charge(ctx context.Context, messageID string, placed shop.OrderPlaced) error {
	return pgx.BeginFunc(ctx, b.DB, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO billing_inbox (message_id) VALUES ($1) ON CONFLICT DO NOTHING`, messageID)
		if err != nil {
			return fmt.Errorf("inbox %s: %w", messageID, err)
		}
		if tag.RowsAffected() == 0 {
			return nil // a redelivery: charged already
		}
		_, err = tx.Exec(ctx, `INSERT INTO charges (order_id, cents) VALUES ($1, $2)`, placed.OrderID, placed.Cents)
		if err != nil {
			return fmt.Errorf("charge %s: %w", placed.OrderID, err)
		}
		return nil
	})
}
