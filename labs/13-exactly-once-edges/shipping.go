package edges

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	amqp "github.com/rabbitmq/amqp091-go"

	"msglabs/shared/shop"
)

// You do not need to edit this file. Shipping already has an inbox (lab 5): a message id it has handled before is
// acked and ignored. That only helps if a copy of a message carries the same id as the original.

// Shipping sends a parcel for every OrderBilled it has not seen before. A Shipping is safe for concurrent use; each
// Consume owns its channel.
type Shipping struct {
	DB *pgxpool.Pool
}

// Consume takes OrderBilled events from queue until ctx is done.
func (s *Shipping) Consume(ctx context.Context, conn *amqp.Connection, queue string) error {
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open channel: %w", err)
	}
	defer ch.Close()
	deliveries, err := consume(ctx, ch, queue)
	if err != nil {
		return err
	}
	for d := range deliveries {
		var ev shop.OrderBilled
		if err := shop.Decode(d.Body, &ev); err != nil {
			_ = d.Reject(false) // requeue=false: it will never parse
			continue
		}
		if err := s.ship(ctx, d.MessageId, ev); err != nil {
			return err // the channel closes unacked: the broker redelivers
		}
		if err := d.Ack(false); err != nil {
			return fmt.Errorf("ack %s: %w", d.MessageId, err)
		}
	}
	return nil
}

// ship records the message in the inbox and, if it is new, sends a parcel, in one transaction.
func (s *Shipping) ship(ctx context.Context, messageID string, ev shop.OrderBilled) error {
	return pgx.BeginFunc(ctx, s.DB, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO shipping_inbox (message_id) VALUES ($1) ON CONFLICT DO NOTHING`, messageID)
		if err != nil {
			return fmt.Errorf("inbox %s: %w", messageID, err)
		}
		if tag.RowsAffected() == 0 {
			return nil // seen before: already shipped
		}
		if _, err := tx.Exec(ctx, `INSERT INTO parcels (order_id) VALUES ($1)`, ev.OrderID); err != nil {
			return fmt.Errorf("ship %s: %w", ev.OrderID, err)
		}
		return nil
	})
}
