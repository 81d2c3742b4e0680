//go:build solution

// Why this fix: the outbox rows only help if something carries them to the broker, and that something must never
// lose one. Run claims a batch of rows (FOR UPDATE SKIP LOCKED: a second relay takes other rows instead of waiting),
// publishes them on a confirmed channel, waits for every confirm, and only then deletes them in the same
// transaction. If the relay dies after publishing and before the commit, the rows come back and are published
// again: at least once, never zero times, and Billing's inbox (lab 5) absorbs the duplicate. It claims rows by
// locking, never "id > last seen", which skips a row whose transaction committed late. This is one good answer, not
// the only one: a relay can mark rows as sent instead of deleting them (an audit trail), or wake on LISTEN/NOTIFY
// instead of polling.

package outbox

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	amqp "github.com/rabbitmq/amqp091-go"

	"msglabs/shared/fault"
	"msglabs/shared/shop"
)

const (
	// relayBatch is how many outbox rows the relay claims, publishes and deletes at a time: also how many confirms
	// it has outstanding.
	relayBatch = 256
	// relayIdle is how long the relay pauses when the outbox is empty.
	relayIdle = 20 * time.Millisecond
	// confirmTimeout bounds the wait for the broker's confirms of one batch.
	confirmTimeout = 5 * time.Second
)

// outboxRow is one message waiting in the outbox.
type outboxRow struct {
	ID          int64
	MessageID   string
	MessageType string
	RoutingKey  string
	Headers     map[string]string
	Body        []byte
}

// Run is the outbox relay: until ctx is done it publishes the rows of the outbox, oldest first, and deletes each
// batch once the broker has confirmed all of it. It uses a channel of its own on s.Broker. Several relays may run at
// once (they claim different rows), but one keeps the events in order. It returns nil when ctx is done, and an error
// when the broker or the database fails (its process should then restart it).
func (s *Sales) Run(ctx context.Context) error {
	ch, err := s.Broker.Channel()
	if err != nil {
		return fmt.Errorf("open relay channel: %w", err)
	}
	defer ch.Close()
	if err := ch.Confirm(false); err != nil { // noWait=false
		return fmt.Errorf("confirm mode: %w", err)
	}
	if err := DeclareExchange(ch, s.Exchange); err != nil {
		return err
	}
	for {
		n, err := s.relayBatch(ctx, ch)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return err
		}
		if n > 0 {
			continue // there may be more waiting
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(relayIdle):
		}
	}
}

// relayBatch claims up to relayBatch rows, publishes them, waits for their confirms and deletes them, all in one
// transaction. It returns how many rows it relayed.
func (s *Sales) relayBatch(ctx context.Context, ch *amqp.Channel) (int, error) {
	tx, err := s.DB.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback(ctx) // a failed or interrupted batch leaves its rows in the outbox, unlocked
	rows, err := claim(ctx, tx)
	if err != nil || len(rows) == 0 {
		return 0, err
	}
	if err := s.publishAll(ctx, ch, rows); err != nil {
		return 0, err
	}
	s.Points.At(fault.AfterPublish)
	ids := make([]int64, len(rows))
	for i, r := range rows {
		ids[i] = r.ID
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

// publishAll publishes rows in order, all at once (one confirm outstanding per row), then waits for every confirm.
// A nack or a missing confirm is an error: the caller rolls back and the rows are published again later.
func (s *Sales) publishAll(ctx context.Context, ch *amqp.Channel, rows []outboxRow) error {
	ctx, cancel := context.WithTimeout(ctx, confirmTimeout)
	defer cancel()
	pending := make([]*amqp.DeferredConfirmation, 0, len(rows))
	for _, r := range rows {
		dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, s.Exchange, r.RoutingKey,
			false, // mandatory
			false, // immediate
			amqp.Publishing{
				MessageId:    r.MessageID,
				Type:         r.MessageType,
				ContentType:  shop.ContentType,
				DeliveryMode: amqp.Persistent,
				Headers:      headerTable(r.Headers),
				Body:         r.Body,
			})
		if err != nil {
			return fmt.Errorf("publish %s: %w", r.MessageID, err)
		}
		pending = append(pending, dc)
	}
	for i, dc := range pending {
		ok, err := dc.WaitContext(ctx)
		if err != nil {
			return fmt.Errorf("wait for the confirm of %s: %w", rows[i].MessageID, err)
		}
		if !ok {
			return fmt.Errorf("the broker refused %s (negative confirm)", rows[i].MessageID)
		}
	}
	return nil
}

// headerTable turns an outbox row's headers into AMQP headers.
func headerTable(headers map[string]string) amqp.Table {
	t := amqp.Table{}
	for k, v := range headers {
		t[k] = v
	}
	return t
}
