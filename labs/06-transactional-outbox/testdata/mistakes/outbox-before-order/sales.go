// Mistake outbox-before-order: the outbox row was committed on its own before the order, so an order that then rolls back is announced anyway
// Why an attendee writes it: "write the event first, so it cannot be lost" is the lesson of the crash, applied one step too literally.

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
	placed := shop.OrderPlaced{OrderID: cmd.OrderID, Customer: cmd.Customer, Cents: cmd.Cents}
	if err := s.addToOutbox(ctx, s.DB, placed); err != nil { // the event is safe before anything else happens
		return err
	}
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
	return nil
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
