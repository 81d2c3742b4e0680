//go:build solution

// Why this fix: "look, then write" cannot stop a duplicate, because the look and the write are two moments and a
// second copy (or a crash) fits between them. Billing now lets the database decide, in the same transaction as the
// charge: it inserts the message id into processed_messages (its primary key refuses a second one) and charges only
// if that insert added a row. The charge and the memory of it commit together or not at all, so a redelivery after a
// crash finds the id, and of two copies at once the second waits for the first's commit and then inserts nothing.
// This is one good answer, not the only one: a naturally idempotent write (an upsert, a unique order id on the
// ledger) works too when the effect is a state rather than something that adds up.

package idempotent

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	amqp "github.com/rabbitmq/amqp091-go"

	"msglabs/shared/shop"
)

// Handle charges the customer for one OrderPlaced event. RabbitMQ delivers at least once: the same message (same
// MessageId) can arrive again after a crash, or twice at once on two Billing instances. Handle charges once: the
// message id and the charge are written in one transaction, and the id's primary key admits it only once.
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
	if !first {
		b.logf("%s was already processed: not charging %s again", d.MessageId, evt.OrderID)
		return nil // the ack tells the broker this copy is done too
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

// claim records messageID as processed inside tx and reports whether this is its first time. If another
// transaction has just inserted the same id, the insert waits for it: after its commit it inserts nothing (false),
// after its rollback it inserts the row (true).
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
