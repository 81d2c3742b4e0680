package contracts

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	amqp "github.com/rabbitmq/amqp091-go"
)

// You do not need to edit this file: it holds the tables, the queues as operations set them up, and the sweeper.

// Schema is the lab's tables: Billing's charges, and a store for message attachments (the claim-check store).
const Schema = `
CREATE TABLE charges (
	order_id text PRIMARY KEY,
	cents    int  NOT NULL,
	currency text NOT NULL
);
CREATE TABLE attachments (
	claim      text PRIMARY KEY,
	order_id   text NOT NULL,
	content    bytea NOT NULL,
	expires_at timestamptz NOT NULL
)`

// InvoiceQueueMaxBytes is the cap operations put on the invoices queue: all its waiting messages together may take
// at most 1 MiB of broker memory. A publish that would go over is refused (reject-publish), never silently dropped.
const InvoiceQueueMaxBytes = 1 << 20

// DeclareInvoiceQueue declares the mailer's queue of InvoiceIssued events with operations' limits. Everyone who
// declares it must pass the same arguments, or the broker closes the channel (PRECONDITION_FAILED).
func DeclareInvoiceQueue(ch *amqp.Channel, queue string) error {
	_, err := ch.QueueDeclare(queue,
		true,  // durable
		false, // autoDelete
		false, // exclusive
		false, // noWait
		amqp.Table{
			"x-max-length-bytes": int64(InvoiceQueueMaxBytes),
			"x-overflow":         "reject-publish", // refuse (nack) what does not fit
		})
	if err != nil {
		return fmt.Errorf("declare queue %q: %w", queue, err)
	}
	return nil
}

// DeclareQueue declares a plain durable queue.
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

// SweepAttachments deletes the attachments whose time is up. It runs on a schedule (a cron job, a ticker), never
// inside a message handler: a handler may run again for the same message, and must find the attachment still there.
func SweepAttachments(ctx context.Context, db *pgxpool.Pool) (int64, error) {
	return SweepAttachmentsAsOf(ctx, db, time.Now())
}

// SweepAttachmentsAsOf is SweepAttachments run at the time at: a test uses it to see what the daily sweep will have
// removed a week from now.
func SweepAttachmentsAsOf(ctx context.Context, db *pgxpool.Pool, at time.Time) (int64, error) {
	tag, err := db.Exec(ctx, `DELETE FROM attachments WHERE expires_at < $1`, at)
	if err != nil {
		return 0, fmt.Errorf("sweep attachments: %w", err)
	}
	return tag.RowsAffected(), nil
}
