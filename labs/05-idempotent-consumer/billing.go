package idempotent

import (
	"context"
	"fmt"

	amqp "github.com/rabbitmq/amqp091-go"

	"msglabs/shared/shop"
)

// Handle charges the customer for one OrderPlaced event. RabbitMQ delivers at least once: the same message (same
// MessageId) can arrive again after a crash, or twice at once on two Billing instances. Handle must charge once.
func (b *Billing) Handle(ctx context.Context, d amqp.Delivery) error {
	var evt shop.OrderPlaced
	if d.MessageId == "" {
		return fmt.Errorf("%w: OrderPlaced without a message id", ErrMalformed)
	}
	if err := shop.Decode(d.Body, &evt); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	// TODO(lab): "look, then write" lets two copies of one message through: both copies look before either has
	// written (two instances at once), or the look happens after a crash that kept the charge but not the memory of
	// it. Who could decide "first or not" in a single step, so that nothing fits between the look and the write?
	seen, err := b.alreadyProcessed(ctx, d.MessageId)
	if err != nil {
		return err
	}
	if seen {
		b.logf("%s was already processed: not charging %s again", d.MessageId, evt.OrderID)
		return nil
	}
	if err := b.charge(ctx, d.MessageId, evt); err != nil {
		return err
	}
	// TODO(lab): remembering the message in its own step, after the charge committed, leaves a window: a crash here
	// keeps the charge and forgets that it was made. The charge and the memory of it must stand or fall together.
	return b.markProcessed(ctx, d.MessageId)
}

// alreadyProcessed reports whether messageID is recorded as processed.
func (b *Billing) alreadyProcessed(ctx context.Context, messageID string) (bool, error) {
	var seen bool
	err := b.DB.QueryRow(ctx,
		`SELECT EXISTS (SELECT 1 FROM processed_messages WHERE message_id = $1)`, messageID).Scan(&seen)
	if err != nil {
		return false, fmt.Errorf("look up %s: %w", messageID, err)
	}
	return seen, nil
}

// charge records the charge for an order in the ledger (the customer pays when the ledger says so).
func (b *Billing) charge(ctx context.Context, messageID string, evt shop.OrderPlaced) error {
	_, err := b.DB.Exec(ctx,
		`INSERT INTO charges (order_id, cents, message_id) VALUES ($1, $2, $3)`,
		evt.OrderID, evt.Cents, messageID)
	if err != nil {
		return fmt.Errorf("charge %s: %w", evt.OrderID, err)
	}
	b.logf("charged %s %d cents for %s", evt.OrderID, evt.Cents, messageID)
	return nil
}

// markProcessed records that messageID has been processed.
func (b *Billing) markProcessed(ctx context.Context, messageID string) error {
	_, err := b.DB.Exec(ctx, `INSERT INTO processed_messages (message_id) VALUES ($1)`, messageID)
	if err != nil {
		return fmt.Errorf("remember %s: %w", messageID, err)
	}
	return nil
}
