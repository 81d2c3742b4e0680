package proof

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

// InboxSchema creates the inbox partition's table (in the schema the pool searches).
const InboxSchema = `CREATE TABLE inbox (message_id text PRIMARY KEY)`

// LedgerSchema creates the ledger partition's table in its own schema.
func LedgerSchema(schema string) string {
	return `CREATE TABLE ` + pgx.Identifier{schema, "charges"}.Sanitize() + ` (
		id        text PRIMARY KEY,
		order_id  text NOT NULL,
		cents     int  NOT NULL,
		billed_id text NOT NULL)`
}

// PGInbox is the inbox partition on PostgreSQL. Each method is one statement, its own transaction. Points (may be nil)
// are where the process can be made to crash: before each step, named as in the explorer.
type PGInbox struct {
	DB     *pgxpool.Pool
	Points *fault.Points
}

// Seen implements Inbox.
func (i *PGInbox) Seen(ctx context.Context, messageID string) (bool, error) {
	i.Points.At(StepCheckInbox)
	var seen bool
	err := i.DB.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM inbox WHERE message_id = $1)`, messageID).Scan(&seen)
	if err != nil {
		return false, fmt.Errorf("read inbox: %w", err)
	}
	return seen, nil
}

// Record implements Inbox.
func (i *PGInbox) Record(ctx context.Context, messageID string) error {
	i.Points.At(StepRecordInbox)
	if _, err := i.DB.Exec(ctx, `INSERT INTO inbox (message_id) VALUES ($1) ON CONFLICT DO NOTHING`, messageID); err != nil {
		return fmt.Errorf("write inbox: %w", err)
	}
	return nil
}

// PGLedger is the ledger partition on PostgreSQL, in its own schema. Add is one transaction in that schema only.
type PGLedger struct {
	DB     *pgxpool.Pool
	Schema string
	Points *fault.Points
}

// Add implements Ledger: insert unless the id is taken, then read what is stored under the id. The read is a
// statement of its own so that, under READ COMMITTED, it sees a row another transaction committed while the insert
// waited for it.
func (l *PGLedger) Add(ctx context.Context, c Charge) (Charge, error) {
	l.Points.At(StepCharge)
	table := pgx.Identifier{l.Schema, "charges"}.Sanitize()
	var stored Charge
	err := pgx.BeginFunc(ctx, l.DB, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO `+table+` (id, order_id, cents, billed_id) VALUES ($1, $2, $3, $4)
			ON CONFLICT (id) DO NOTHING`, c.ID, c.OrderID, c.Cents, c.BilledID); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT id, order_id, cents, billed_id FROM `+table+` WHERE id = $1`, c.ID).
			Scan(&stored.ID, &stored.OrderID, &stored.Cents, &stored.BilledID)
	})
	if err != nil {
		return Charge{}, fmt.Errorf("add charge %s: %w", c.ID, err)
	}
	return stored, nil
}

// confirmTimeout caps how long Publish waits for the broker's confirm (lab 4: a silent network must not hang Billing).
const confirmTimeout = 2 * time.Second

// AMQPEvents publishes OrderBilled to a queue, persistent, and waits for the broker's confirm, at most
// confirmTimeout. It owns Channel, which must be in confirm mode; like every Channel it is not safe for concurrent
// use, so one goroutine uses it.
type AMQPEvents struct {
	Channel *amqp.Channel
	Queue   string
	Points  *fault.Points
}

// Publish implements Events.
func (e *AMQPEvents) Publish(ctx context.Context, messageID string, ev shop.OrderBilled) error {
	e.Points.At(StepPublish)
	body, err := shop.Encode(ev)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, confirmTimeout)
	defer cancel()
	dc, err := e.Channel.PublishWithDeferredConfirmWithContext(ctx, "", e.Queue,
		false, // mandatory
		false, // immediate
		amqp.Publishing{
			MessageId:    messageID,
			Type:         ev.MessageType(),
			ContentType:  shop.ContentType,
			DeliveryMode: amqp.Persistent,
			Body:         body,
		})
	if err != nil {
		return fmt.Errorf("publish %s: %w", messageID, err)
	}
	ok, err := dc.WaitContext(ctx)
	if err != nil {
		return fmt.Errorf("confirm of %s: %w", messageID, err)
	}
	if !ok {
		return fmt.Errorf("the broker refused %s", messageID)
	}
	return nil
}

// DeclareQueue declares a durable queue (idempotent: whoever comes first creates it).
func DeclareQueue(ch *amqp.Channel, queue string) error {
	_, err := ch.QueueDeclare(queue,
		true,  // durable
		false, // autoDelete
		false, // exclusive
		false, // noWait
		nil)
	if err != nil {
		return fmt.Errorf("declare queue %q: %w", queue, err)
	}
	return nil
}

// Consume runs b on queue until ctx is done: one delivery at a time (prefetch 1), acked after Handle returns nil.
// points (may be nil) adds the crash point StepAck. It owns its channel; conn is the caller's.
func Consume(ctx context.Context, conn *amqp.Connection, queue string, b *Billing, points *fault.Points) error {
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open channel: %w", err)
	}
	defer ch.Close()
	if err := DeclareQueue(ch, queue); err != nil {
		return err
	}
	if err := ch.Qos(1, // prefetch count: one delivery at a time
		0,     // prefetch size: no limit
		false, // global
	); err != nil {
		return fmt.Errorf("set prefetch: %w", err)
	}
	deliveries, err := ch.Consume(queue, "",
		false, // autoAck
		false, // exclusive
		false, // noLocal
		false, // noWait
		nil)
	if err != nil {
		return fmt.Errorf("consume %q: %w", queue, err)
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case d, ok := <-deliveries:
			if !ok {
				return errors.New("deliveries closed: the channel or connection is gone")
			}
			if err := handle(ctx, b, d, points); err != nil {
				return err
			}
		}
	}
}

// handle decodes one delivery, lets b handle it and acks it; on an error it returns the delivery to the queue.
func handle(ctx context.Context, b *Billing, d amqp.Delivery, points *fault.Points) error {
	var cmd shop.BillOrder
	if err := shop.Decode(d.Body, &cmd); err != nil {
		_ = d.Nack(false, false) // multiple, requeue: a body that does not decode never will
		return err
	}
	if err := b.Handle(ctx, d.MessageId, cmd); err != nil {
		_ = d.Nack(false, true) // multiple, requeue
		return fmt.Errorf("handle %s: %w", d.MessageId, err)
	}
	points.At(StepAck)
	if err := d.Ack(false); err != nil { // multiple
		return fmt.Errorf("ack %s: %w", d.MessageId, err)
	}
	return nil
}
