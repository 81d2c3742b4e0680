// Mistake package-mutex: a mutex in memory serialised "look, then write", but two instances are two processes with two mutexes
// Why an attendee writes it: the two-instance failure looks like a race, and a mutex around the handler makes it go away on one machine.

package idempotent

import (
	"context"
	"fmt"
	"sync"

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
	handleMu.Lock() // one message at a time, so look-then-write cannot interleave
	defer handleMu.Unlock()
	tx, err := b.DB.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback(ctx) // does nothing once committed
	var seen bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM processed_messages WHERE message_id = $1)`,
		d.MessageId).Scan(&seen); err != nil {
		return fmt.Errorf("look up %s: %w", d.MessageId, err)
	}
	if seen {
		b.logf("%s was already processed: not charging %s again", d.MessageId, evt.OrderID)
		return nil
	}
	if err := charge(ctx, tx, d.MessageId, evt); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO processed_messages (message_id) VALUES ($1) ON CONFLICT (message_id) DO NOTHING`,
		d.MessageId); err != nil {
		return fmt.Errorf("remember %s: %w", d.MessageId, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit charge of %s: %w", evt.OrderID, err)
	}
	b.logf("charged %s %d cents for %s", evt.OrderID, evt.Cents, d.MessageId)
	return nil
}

// handleMu serialises Handle.
var handleMu sync.Mutex

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
