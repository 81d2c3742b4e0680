// Mistake package-seen-map: the processed ids were kept in a map in memory, which a restarted or second instance does not share
// Why an attendee writes it: the race looks like one between two goroutines, and a mutex-guarded map is how Go fixes those.

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
	processedMu.Lock()
	defer processedMu.Unlock()
	if processed[d.MessageId] {
		b.logf("%s was already processed: not charging %s again", d.MessageId, evt.OrderID)
		return nil
	}
	tx, err := b.DB.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback(ctx) // does nothing once committed
	if err := charge(ctx, tx, d.MessageId, evt); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit charge of %s: %w", evt.OrderID, err)
	}
	processed[d.MessageId] = true
	b.logf("charged %s %d cents for %s", evt.OrderID, evt.Cents, d.MessageId)
	return nil
}

// processed holds the message ids charged so far; processedMu makes look-and-charge one step.
var (
	processedMu sync.Mutex
	processed   = map[string]bool{}
)

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
