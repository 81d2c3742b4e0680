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
	// TODO(lab): "the id of the last row published" looks like a safe bookmark, and is not. Ids are handed out when a
	// row is inserted; a row becomes visible when its transaction commits, which may be later, after rows with
	// higher ids: the bookmark has moved past it by then. And a bookmark in one process means nothing to another
	// Sales instance running its own relay: both publish every row.
	last int64
}

// batch publishes the next rows of the outbox, oldest first, and deletes them once the broker has confirmed every
// one. It returns how many rows it relayed.
func (r *relay) batch(ctx context.Context) (int, error) {
	// TODO(lab): take the rows so that a second relay cannot take them too while this one is publishing them, and
	// keep them taken until they are deleted. Whatever is still in the table is then still to be sent.
	rows, err := r.rowsAfter(ctx, r.last)
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
	if _, err := r.s.DB.Exec(ctx, `DELETE FROM outbox WHERE id = ANY($1)`, ids); err != nil {
		return 0, fmt.Errorf("delete relayed rows: %w", err)
	}
	r.last = ids[len(ids)-1]
	return len(rows), nil
}

// rowsAfter reads up to relayBatch outbox rows with an id above last, oldest first.
func (r *relay) rowsAfter(ctx context.Context, last int64) ([]outboxRow, error) {
	rows, err := r.s.DB.Query(ctx, `
		SELECT id, message_id, message_type, routing_key, headers, body
		FROM outbox WHERE id > $1 ORDER BY id LIMIT $2`, last, relayBatch)
	if err != nil {
		return nil, fmt.Errorf("read outbox rows: %w", err)
	}
	found, err := pgx.CollectRows(rows, pgx.RowToStructByPos[outboxRow])
	if err != nil {
		return nil, fmt.Errorf("read outbox rows: %w", err)
	}
	return found, nil
}

// publishAll publishes rows in order, all at once (one confirm outstanding per row), then waits for every confirm,
// at most confirmTimeout. A negative confirm is errRefused; a missing confirm is an error too. Either way the caller
// must keep the rows: the broker may not have them.
func (r *relay) publishAll(ctx context.Context, rows []outboxRow) error {
	ctx, cancel := context.WithTimeout(ctx, confirmTimeout)
	defer cancel()
	pending := make([]*amqp.DeferredConfirmation, 0, len(rows))
	for _, row := range rows {
		dc, err := r.ch.PublishWithDeferredConfirmWithContext(ctx, r.s.Exchange, row.RoutingKey,
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
		pending = append(pending, dc)
	}
	for i, dc := range pending {
		ok, err := dc.WaitContext(ctx)
		if err != nil {
			return fmt.Errorf("wait for the confirm of %s: %w", rows[i].MessageID, err)
		}
		if !ok {
			return fmt.Errorf("%s: %w", rows[i].MessageID, errRefused)
		}
	}
	return nil
}
