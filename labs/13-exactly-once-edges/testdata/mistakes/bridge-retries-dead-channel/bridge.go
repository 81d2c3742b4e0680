// Mistake bridge-retries-dead-channel: the bridge tried again after every error, a closed channel too, so a bridge whose broker connection broke kept failing for ever instead of stopping to be restarted
// Why an attendee writes it: the step says live through errors, and every error looks like one the next try may not have

package edges

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	amqp "github.com/rabbitmq/amqp091-go"

	"msglabs/shared/shop"
)

// How long the bridge waits before it looks at an empty table again, and before it tries again after a failed
// forward.
const (
	bridgePoll  = 20 * time.Millisecond
	bridgeRetry = 50 * time.Millisecond
)

// Bridge forwards the phone-order desk's table-queue (phone_orders, in PostgreSQL) to the shop's events exchange as
// OrderPlaced, one row at a time, so the rest of the shop does not have to read the legacy table. Run it in one
// goroutine: it owns the channel it opens. Several bridges may run at once; each claims its own rows.
type Bridge struct {
	DB     *pgxpool.Pool    // the legacy database
	Broker *amqp.Connection // owned by the caller
	Events string           // the exchange to publish to
	// BeforePublish, when set, is called with a row's msg_id just before the bridge publishes that row. Tests use it
	// to hold two bridges at the same point.
	BeforePublish func(msgID string)
	// Logf, when set, is where the bridge reports trouble it lives through (in the tests: a line of the timeline).
	Logf func(format string, args ...any)
}

// phoneOrder is one row of the legacy table.
type phoneOrder struct {
	Position int64
	MsgID    string
	Order    shop.OrderPlaced
}

// Run forwards rows until ctx is done. A forward that fails is tried again after bridgeRetry (its row is still in
// the table); Run returns an error only when the broker has closed its channel, on which nothing can succeed again.
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
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			b.logf("forwarding failed, trying again in %v: %v", bridgeRetry, err)
			if !pause(ctx, bridgeRetry) {
				return nil
			}
		case !moved:
			if !pause(ctx, bridgePoll) {
				return nil
			}
		}
	}
}

// forwardOne moves the oldest row no other bridge holds to the broker. It reports false when there is none.
// The row stays in the table, locked, until the broker has confirmed the message; only then is it deleted, in the
// same transaction. A crash or an error before the commit rolls the delete back and the row is forwarded again,
// with the same id, so Billing's inbox recognises the copy.
func (b *Bridge) forwardOne(ctx context.Context, ch *amqp.Channel) (bool, error) {
	moved := false
	err := pgx.BeginFunc(ctx, b.DB, func(tx pgx.Tx) error {
		row, err := claimOldest(ctx, tx)
		if err != nil || row == nil {
			return err
		}
		b.beforePublish(row.MsgID)
		if err := Publish(ctx, ch, b.Events, row.MsgID, row.Order); err != nil {
			return err // rolled back: the row stays for the next attempt
		}
		if err := deleteRow(ctx, tx, row.Position); err != nil {
			return err
		}
		moved = true
		return nil
	})
	return moved, err
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

// beforePublish calls the BeforePublish hook, if any.
func (b *Bridge) beforePublish(msgID string) {
	if b.BeforePublish != nil {
		b.BeforePublish(msgID)
	}
}

// pause waits d, and reports false if ctx was done first.
func pause(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

// logf reports trouble the bridge lives through, if it has a Logf.
func (b *Bridge) logf(format string, args ...any) {
	if b.Logf != nil {
		b.Logf(format, args...)
	}
}
