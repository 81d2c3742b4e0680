// Mistake record-first: the message id was claimed in its own transaction before the charge, so a failed or lost charge loses the order
// Why an attendee writes it: claiming first "reserves" the message, so a second copy is turned away before any money moves: it feels safer.

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
	first, err := claim(ctx, tx, d.MessageId)
	if err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil { // the claim is ours now: no other copy can get past it
		return fmt.Errorf("commit claim of %s: %w", d.MessageId, err)
	}
	if !first {
		b.logf("%s was already processed: not charging %s again", d.MessageId, evt.OrderID)
		return nil
	}
	if _, err := b.DB.Exec(ctx, `INSERT INTO charges (order_id, cents, message_id) VALUES ($1, $2, $3)`,
		evt.OrderID, evt.Cents, d.MessageId); err != nil {
		return fmt.Errorf("charge %s: %w", evt.OrderID, err)
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
