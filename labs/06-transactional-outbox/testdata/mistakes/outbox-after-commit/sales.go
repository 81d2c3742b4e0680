// Mistake outbox-after-commit: the outbox row was written after the order committed, in a transaction of its own, so a crash between the two loses the event
// Why an attendee writes it: writing the outbox row once the order is safely stored reads like the careful order of things, and it is only a database write.

package outbox

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"

	"msglabs/shared/shop"
)

// PlaceOrder stores the order and, in the same transaction, its OrderPlaced event in the outbox. It does not touch
// the broker: the relay publishes the event once the transaction has committed.
func (s *Sales) PlaceOrder(ctx context.Context, cmd shop.PlaceOrder) error {
	tx, err := s.DB.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback(ctx) // does nothing once committed
	_, err = tx.Exec(ctx, `INSERT INTO orders (id, customer, cents) VALUES ($1, $2, $3)`,
		cmd.OrderID, cmd.Customer, cmd.Cents)
	if err != nil {
		return fmt.Errorf("store order %s: %w", cmd.OrderID, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit order %s: %w", cmd.OrderID, err)
	}
	// The order is safe; now queue its event for the relay.
	placed := shop.OrderPlaced{OrderID: cmd.OrderID, Customer: cmd.Customer, Cents: cmd.Cents}
	return s.addToOutbox(ctx, s.DB, placed)
}

// addToOutbox writes evt as an outbox row inside tx, with a message id of its own (it stays the same however often
// the relay publishes the row) and the headers of the request in ctx.
func (s *Sales) addToOutbox(ctx context.Context, tx execer, evt shop.OrderPlaced) error {
	body, err := shop.Encode(evt)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx,
		`INSERT INTO outbox (message_id, message_type, routing_key, headers, body) VALUES ($1, $2, $3, $4, $5)`,
		uuid.NewString(), evt.MessageType(), OrderPlacedKey, s.eventHeaders(ctx), body)
	if err != nil {
		return fmt.Errorf("add OrderPlaced %s to the outbox: %w", evt.OrderID, err)
	}
	return nil
}

// execer is what runs a statement: a pool or a transaction.
type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}
