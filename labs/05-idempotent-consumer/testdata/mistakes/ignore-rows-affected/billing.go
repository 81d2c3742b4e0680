// Mistake ignore-rows-affected: the claim used ON CONFLICT DO NOTHING but never looked at whether it inserted a row, so every copy is charged
// Why an attendee writes it: ON CONFLICT DO NOTHING makes the duplicate error go away, and that reads like the duplicate went away.

package idempotent

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	amqp "github.com/rabbitmq/amqp091-go"

	"msglabs/shared/shop"
)

// Handle charges the customer for one OrderPlaced event, once per message.
func (b *Billing) Handle(ctx context.Context, d amqp.Delivery) error {
	var evt shop.OrderPlaced
	if d.MessageId == "" {
		return fmt.Errorf("%w: OrderPlaced without a message id", ErrMalformed)
	}
	if err := shop.Decode(d.Body, &evt); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	tx, err := b.DB.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback(ctx) // does nothing once committed
	if _, err := claim(ctx, tx, d.MessageId); err != nil {
		return err
	}
	if err := charge(ctx, tx, d.MessageId, evt); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit charge of %s: %w", evt.OrderID, err)
	}
	b.logf("charged %s %d cents for %s", evt.OrderID, evt.Cents, d.MessageId)
	return nil
}

// claim records messageID as processed inside tx and reports whether this is its first time.
func claim(ctx context.Context, tx pgx.Tx, messageID string) (bool, error) {
	tag, err := tx.Exec(ctx,
		`INSERT INTO processed_messages (message_id) VALUES ($1) ON CONFLICT (message_id) DO NOTHING`, messageID)
	if err != nil {
		return false, fmt.Errorf("claim %s: %w", messageID, err)
	}
	return tag.RowsAffected() == 1, nil
}

// charge records the charge for an order in the ledger, inside tx.
func charge(ctx context.Context, tx pgx.Tx, messageID string, evt shop.OrderPlaced) error {
	_, err := tx.Exec(ctx,
		`INSERT INTO charges (order_id, cents, message_id) VALUES ($1, $2, $3)`,
		evt.OrderID, evt.Cents, messageID)
	if err != nil {
		return fmt.Errorf("charge %s: %w", evt.OrderID, err)
	}
	return nil
}
