// Mistake insert-where-not-exists: one INSERT … WHERE NOT EXISTS on the ledger is still a look and a write: two transactions both see nothing
// Why an attendee writes it: a single statement looks atomic, and it needs no inbox table at all.

package idempotent

import (
	"context"
	"fmt"

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
	tag, err := b.DB.Exec(ctx, `
		INSERT INTO charges (order_id, cents, message_id)
		SELECT $1, $2, $3 WHERE NOT EXISTS (SELECT 1 FROM charges WHERE message_id = $3)`,
		evt.OrderID, evt.Cents, d.MessageId)
	if err != nil {
		return fmt.Errorf("charge %s: %w", evt.OrderID, err)
	}
	if tag.RowsAffected() == 0 {
		b.logf("%s was already processed: not charging %s again", d.MessageId, evt.OrderID)
		return nil
	}
	b.logf("charged %s %d cents for %s", evt.OrderID, evt.Cents, d.MessageId)
	return nil
}
