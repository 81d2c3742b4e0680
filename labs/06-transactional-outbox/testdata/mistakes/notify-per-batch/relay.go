// Mistake notify-per-batch: the relay registered a new NotifyPublish listener for every batch and never read the old ones, so the third batch's confirm blocks the library and the relay stops
// Why an attendee writes it: lab 4 waited for confirms on a NotifyPublish channel, and a fresh channel per batch holds exactly that batch's confirms

package outbox

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	amqp "github.com/rabbitmq/amqp091-go"

	"msglabs/shared/shop"
)

// relay carries outbox rows to the broker, one batch at a time; Run (outbox.go) calls batch until ctx is done. A relay
// is used by one goroutine; each Sales instance runs one.
type relay struct {
	s  *Sales
	ch *amqp.Channel // in confirm mode, this relay's own
}

// batch claims up to relayBatch rows, publishes them, waits for their confirms and deletes them, all in one
// transaction: the rows stay locked, and invisible to other relays, until they are gone. It returns how many rows it
// relayed. When anything fails the transaction rolls back and the rows are in the outbox again, unlocked.
func (r *relay) batch(ctx context.Context) (int, error) {
	tx, err := r.s.DB.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback(ctx) // a failed or interrupted batch leaves its rows in the outbox
	rows, err := claim(ctx, tx)
	if err != nil || len(rows) == 0 {
		return 0, err
	}
	if err := r.publishAll(ctx, rows); err != nil {
		return 0, err
	}
	ids := make([]int64, len(rows))
	for i, row := range rows {
		ids[i] = row.ID
	}
	if _, err := tx.Exec(ctx, `DELETE FROM outbox WHERE id = ANY($1)`, ids); err != nil {
		return 0, fmt.Errorf("delete relayed rows: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("commit relayed rows: %w", err)
	}
	return len(rows), nil
}

// claim locks the oldest rows no other transaction holds. Rows of transactions that have not committed yet are
// invisible here, and are claimed by a later batch once they commit.
func claim(ctx context.Context, tx pgx.Tx) ([]outboxRow, error) {
	rows, err := tx.Query(ctx, `
		SELECT id, message_id, message_type, routing_key, headers, body
		FROM outbox ORDER BY id LIMIT $1
		FOR UPDATE SKIP LOCKED`, relayBatch)
	if err != nil {
		return nil, fmt.Errorf("claim outbox rows: %w", err)
	}
	claimed, err := pgx.CollectRows(rows, pgx.RowToStructByPos[outboxRow])
	if err != nil {
		return nil, fmt.Errorf("read outbox rows: %w", err)
	}
	return claimed, nil
}

// publishAll publishes rows in order, all at once (one confirm outstanding per row), then waits for every confirm,
// at most confirmTimeout. A negative confirm is errRefused; a missing confirm is an error too. Either way the caller
// must keep the rows: the broker may not have them.
func (r *relay) publishAll(ctx context.Context, rows []outboxRow) error {
	ctx, cancel := context.WithTimeout(ctx, confirmTimeout)
	defer cancel()
	confirms := r.ch.NotifyPublish(make(chan amqp.Confirmation, len(rows)))
	for _, row := range rows {
		err := r.ch.PublishWithContext(ctx, r.s.Exchange, row.RoutingKey,
			false, // mandatory
			false, // immediate
			amqp.Publishing{
				MessageId:    row.MessageID,
				Type:         row.MessageType,
				ContentType:  shop.ContentType,
				DeliveryMode: amqp.Persistent,
				Headers:      headerTable(row.Headers),
				Body:         row.Body,
			})
		if err != nil {
			return fmt.Errorf("publish %s: %w", row.MessageID, err)
		}
	}
	for i := range rows {
		select {
		case c := <-confirms:
			if !c.Ack {
				return fmt.Errorf("%s: %w", rows[i].MessageID, errRefused)
			}
		case <-ctx.Done():
			return fmt.Errorf("wait for the confirm of %s: %w", rows[i].MessageID, ctx.Err())
		}
	}
	return nil
}
