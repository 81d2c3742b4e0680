//go:build solution

// Why this fix: a bridge hands a message from one store to another, and it must not let go of the message in the
// first store before the second has it. The row now stays in the table, locked (FOR UPDATE SKIP LOCKED), while the
// message is published and confirmed, and is deleted in the same transaction afterwards. A crash between the confirm
// and the commit means the row is sent again: at-least-once, never lost. Because the bridge keeps the desk's msg_id
// as the message id, that copy, and the copies the desk itself writes, carry the id of the original, and Billing's
// inbox drops them. This is one good answer, not the only one: marking rows as sent instead of deleting them, or
// forwarding batches with many confirms outstanding, keep the same two rules (confirm before forget, keep the id).

package edges

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	amqp "github.com/rabbitmq/amqp091-go"

	"msglabs/shared/fault"
	"msglabs/shared/shop"
)

// bridgePoll is how long the bridge waits before looking at an empty table again.
const bridgePoll = 20 * time.Millisecond

// Bridge forwards the phone-order desk's table-queue (phone_orders, in PostgreSQL) to the shop's events exchange as
// OrderPlaced, one row at a time, so the rest of the shop does not have to read the legacy table. Run it in one
// goroutine: it owns the channel it opens. Several bridges may run at once; each claims its own rows.
type Bridge struct {
	DB     *pgxpool.Pool    // the legacy database
	Broker *amqp.Connection // owned by the caller
	Events string           // the exchange to publish to
	Points *fault.Points    // where the test may make the bridge crash; nil never crashes
}

// phoneOrder is one row of the legacy table.
type phoneOrder struct {
	Position int64
	MsgID    string
	Order    shop.OrderPlaced
}

// Run forwards rows until ctx is done.
func (b *Bridge) Run(ctx context.Context) error {
	ch, err := b.Broker.Channel()
	if err != nil {
		return fmt.Errorf("open channel: %w", err)
	}
	defer ch.Close()
	if err := ch.Confirm(false /* noWait */); err != nil {
		return fmt.Errorf("confirm mode: %w", err)
	}
	for {
		moved, err := b.forwardOne(ctx, ch)
		if err != nil {
			return err
		}
		if moved {
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(bridgePoll):
		}
	}
}

// forwardOne moves the oldest row of the table to the broker. It reports false when the table is empty.
// The row stays in the table, locked, until the broker has confirmed the message; only then is it deleted. A crash
// before the commit rolls the delete back and the row is forwarded again, with the same id, so Billing's inbox
// recognises the copy.
func (b *Bridge) forwardOne(ctx context.Context, ch *amqp.Channel) (bool, error) {
	moved := false
	err := pgx.BeginFunc(ctx, b.DB, func(tx pgx.Tx) error {
		row, err := claimOldest(ctx, tx)
		if err != nil || row == nil {
			return err
		}
		if err := Publish(ctx, ch, b.Events, row.MsgID, row.Order); err != nil {
			return err // rolled back: the row stays for the next attempt
		}
		b.Points.At(fault.AfterPublish)
		if err := deleteRow(ctx, tx, row.Position); err != nil {
			return err
		}
		moved = true
		return nil
	})
	if err != nil {
		return false, err
	}
	b.Points.At(fault.AfterCommit)
	return moved, nil
}

// claimOldest locks the oldest row no other bridge holds, and returns it (nil if there is none).
func claimOldest(ctx context.Context, tx pgx.Tx) (*phoneOrder, error) {
	var r phoneOrder
	err := tx.QueryRow(ctx, `
		SELECT position, msg_id, order_id, customer, cents FROM phone_orders
		ORDER BY position LIMIT 1 FOR UPDATE SKIP LOCKED`).
		Scan(&r.Position, &r.MsgID, &r.Order.OrderID, &r.Order.Customer, &r.Order.Cents)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("claim a phone order: %w", err)
	}
	return &r, nil
}

// deleteRow removes a forwarded row.
func deleteRow(ctx context.Context, tx pgx.Tx, position int64) error {
	if _, err := tx.Exec(ctx, `DELETE FROM phone_orders WHERE position = $1`, position); err != nil {
		return fmt.Errorf("delete phone order %d: %w", position, err)
	}
	return nil
}
