//go:build solution

// Why this fix: storing the order and publishing OrderPlaced are two writes to two systems, and no ordering of them
// survives every crash: publish after the commit and a crash loses the event; publish before and a rollback
// announces an order that does not exist. Sales now writes the event as a row of its own database, in the order's
// transaction, with its headers (the trace context included): the order and its announcement commit together or not
// at all. The relay (Run) carries the rows to the broker afterwards. This is one good answer, not the only one:
// change data capture (reading the database's log, e.g. Debezium) or event sourcing also make the event part of the
// same write.

package outbox

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

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
	placed := shop.OrderPlaced{OrderID: cmd.OrderID, Customer: cmd.Customer, Cents: cmd.Cents}
	if err := s.addToOutbox(ctx, tx, placed); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit order %s: %w", cmd.OrderID, err)
	}
	return nil
}

// addToOutbox writes evt as an outbox row inside tx, with a message id of its own (it stays the same however often
// the relay publishes the row) and the headers of the request in ctx.
func (s *Sales) addToOutbox(ctx context.Context, tx pgx.Tx, evt shop.OrderPlaced) error {
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
