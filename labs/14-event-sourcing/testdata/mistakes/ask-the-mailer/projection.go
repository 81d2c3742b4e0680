// Mistake ask-the-mailer: before asking for an e-mail the projection looks in the mail provider's log of sent
// e-mails and skips one it finds, so it depends on another system's private data, which the shop cannot read
// "Something in the database knows what was e-mailed": sent_emails is right there in schema.go.

package sourcing

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	amqp "github.com/rabbitmq/amqp091-go"
)

// projectionPoll is how long the projection waits before looking for new events again.
const projectionPoll = 20 * time.Millisecond

// pendingBatch is how many events the projection reads at a time.
const pendingBatch = 100

// Projection keeps the read model (order_summaries) up to date from the event store, and asks the Mailer to e-mail
// the customer when an order ships. It remembers, per stream, the last version it handled (its checkpoint).
// Run it in one goroutine: it owns the channel it opens.
type Projection struct {
	DB        *pgxpool.Pool    // the event store's database, which also holds the read model
	Broker    *amqp.Connection // owned by the caller
	MailQueue string           // the Mailer's queue
	Log       func(format string, args ...any)
}

// Run handles new events, in the order they were stored, until ctx is done.
func (p *Projection) Run(ctx context.Context) error {
	ch, err := p.Broker.Channel()
	if err != nil {
		return fmt.Errorf("open channel: %w", err)
	}
	defer ch.Close()
	if err := ch.Confirm(false /* noWait */); err != nil {
		return fmt.Errorf("confirm mode: %w", err)
	}
	for {
		events, err := p.pending(ctx)
		if err != nil {
			return err
		}
		for _, ev := range events {
			if err := p.handle(ctx, ch, ev); err != nil {
				return err
			}
		}
		if len(events) > 0 {
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(projectionPoll):
		}
	}
}

// handle asks for the e-mail an event calls for, then applies the event to the read model and saves the checkpoint
// in one transaction: the read model and the checkpoint never disagree. A crash after the e-mail and before the
// commit asks for the same e-mail again after the restart; the Mailer knows its id and sends it once.
func (p *Projection) handle(ctx context.Context, ch *amqp.Channel, ev Event) error {
	if err := p.notify(ctx, ch, ev); err != nil {
		return err
	}
	err := pgx.BeginFunc(ctx, p.DB, func(tx pgx.Tx) error {
		if err := apply(ctx, tx, ev); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, upsertCheckpoint, ev.StreamID, ev.Version); err != nil {
			return fmt.Errorf("checkpoint %s v%d: %w", ev.StreamID, ev.Version, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	p.logf("applied %s v%d %s", ev.StreamID, ev.Version, ev.Type)
	return nil
}

// upsertCheckpoint records that the projection handled a stream up to a version.
const upsertCheckpoint = `
	INSERT INTO projection_checkpoints (stream_id, version) VALUES ($1, $2)
	ON CONFLICT (stream_id) DO UPDATE SET version = EXCLUDED.version`

// pending returns the events after each stream's checkpoint, in the order they were stored. Versions within a
// stream are gapless and committed in order, so a checkpoint per stream never skips an event.
func (p *Projection) pending(ctx context.Context) ([]Event, error) {
	rows, err := p.DB.Query(ctx, `
		SELECT e.position, e.stream_id, e.version, e.type, e.data, e.recorded_at
		FROM events e LEFT JOIN projection_checkpoints c ON c.stream_id = e.stream_id
		WHERE e.version > coalesce(c.version, 0)
		ORDER BY e.position LIMIT $1`, pendingBatch)
	if err != nil {
		return nil, fmt.Errorf("read pending events: %w", err)
	}
	events, err := pgx.CollectRows(rows, scanEvent)
	if err != nil {
		return nil, fmt.Errorf("read pending events: %w", err)
	}
	return events, nil
}

// apply changes the read model for one event, in tx.
func apply(ctx context.Context, tx pgx.Tx, ev Event) error {
	c, err := decode(ev)
	if err != nil {
		return err
	}
	switch c := c.(type) {
	case *OrderPlaced:
		_, err = tx.Exec(ctx, `INSERT INTO order_summaries (order_id, customer, items, cents, status)
			VALUES ($1, $2, 0, $3, 'placed')`, ev.StreamID, c.Customer, c.Cents)
	case *ItemAdded:
		_, err = tx.Exec(ctx, `UPDATE order_summaries SET items = items + 1, cents = cents + $2
			WHERE order_id = $1`, ev.StreamID, c.Cents)
	case *OrderShipped:
		_, err = tx.Exec(ctx, `UPDATE order_summaries SET status = 'shipped' WHERE order_id = $1`, ev.StreamID)
	}
	if err != nil {
		return fmt.Errorf("apply %s v%d %s: %w", ev.StreamID, ev.Version, ev.Type, err)
	}
	return nil
}

// notify asks the Mailer for the e-mail an event calls for: "your order is on its way" for OrderShipped. The e-mail's
// id comes from the event (lab 13: every copy of a piece of work carries the identity of the original), so the
// Mailer can tell a repeat from a new e-mail.
func (p *Projection) notify(ctx context.Context, ch *amqp.Channel, ev Event) error {
	if ev.Type != "OrderShipped" {
		return nil
	}
	id := fmt.Sprintf("email-%s-v%d", ev.StreamID, ev.Version)
	var sent bool
	err := p.DB.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM sent_emails WHERE email_id = $1)`, id).Scan(&sent)
	if err != nil {
		return fmt.Errorf("look up e-mail %s: %w", id, err)
	}
	if sent { // the customer has it already: a replay
		return nil
	}
	subject := fmt.Sprintf("Your order %s is on its way", ev.StreamID)
	return RequestEmail(ctx, ch, p.MailQueue, id, SendEmail{OrderID: ev.StreamID, Subject: subject})
}

func (p *Projection) logf(format string, args ...any) {
	if p.Log != nil {
		p.Log(format, args...)
	}
}
