package poison

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	amqp "github.com/rabbitmq/amqp091-go"

	"msglabs/shared/shop"
)

// prefetch is how many unacked BillOrder commands Billing holds at once: one, so orders are charged in turn.
const prefetch = 1

// Billing charges orders: it takes BillOrder commands from its queue, charges the card through the Gateway and writes
// the charge, once per message id (its inbox). A message that fails is retried later through the broker (lab 8) and
// parked in ErrorQueue after its last retry. A Billing is safe for concurrent use; Consume owns its channels.
type Billing struct {
	DB         *pgxpool.Pool
	Gateway    Gateway
	Queue      string // BillOrder commands
	ErrorQueue string // where messages that cannot be processed are parked for a human
}

// Consume takes BillOrder commands until ctx is done, settling each one after handling it. It uses two channels on
// conn, both owned by this goroutine: one consumes, the other (in confirm mode) publishes retries and parked messages.
func (b *Billing) Consume(ctx context.Context, conn *amqp.Connection) error {
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open channel: %w", err)
	}
	defer ch.Close()
	pub, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open channel: %w", err)
	}
	defer pub.Close()
	if err := pub.Confirm(false); err != nil { // noWait=false
		return fmt.Errorf("confirm mode: %w", err)
	}
	if err := DeclareQueues(ch, b.Queue, b.ErrorQueue); err != nil {
		return err
	}
	if err := ch.Qos(prefetch, 0, false); err != nil { // prefetchCount, prefetchSize, global
		return fmt.Errorf("set prefetch: %w", err)
	}
	deliveries, err := ch.ConsumeWithContext(ctx, b.Queue,
		"",    // consumer tag: let the library choose
		false, // autoAck: we settle each message ourselves
		false, // exclusive
		false, // noLocal
		false, // noWait
		nil)
	if err != nil {
		return fmt.Errorf("consume %q: %w", b.Queue, err)
	}
	for d := range deliveries {
		err := b.Handle(ctx, d)
		if ctx.Err() != nil {
			return nil // shutting down: the broker requeues what we did not settle
		}
		if err := b.settle(ctx, pub, d, err); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if nackErr := d.Nack(false, true); nackErr != nil { // multiple=false, requeue=true: keep it, try again
				return fmt.Errorf("nack %s: %w", d.MessageId, nackErr)
			}
			if pub.IsClosed() || errors.Is(err, amqp.ErrClosed) {
				return err // the publishing channel is gone: restart with fresh channels
			}
		}
	}
	return nil
}

// settle tells the broker what became of a delivery: ack when it was handled, otherwise…
func (b *Billing) settle(ctx context.Context, pub *amqp.Channel, d amqp.Delivery, handleErr error) error {
	if handleErr == nil {
		return ack(d)
	}
	// TODO(lab): not every failure is worth waiting for. A body that cannot be decoded decodes the same way after
	// every wait, and goes round all of lab 8's retries before anyone sees it. And a refused order is simply dropped:
	// nobody can ever see it, ask why, or replay it once Sales has fixed it. A permanent failure (ErrMalformed,
	// ErrInvalidOrder) deserves the error queue at once; a passing one (ErrGatewayDown) its delayed retries.
	if errors.Is(handleErr, ErrInvalidOrder) {
		if err := d.Reject(false); err != nil { // requeue=false: this order can never be charged, drop it
			return fmt.Errorf("reject %s: %w", d.MessageId, err)
		}
		return nil
	}
	if err := b.retryLater(ctx, pub, d, handleErr); err != nil {
		return err
	}
	return ack(d)
}

// park publishes a copy of d to the error queue, for a person to look at and replay, and waits for the broker's
// confirm. The caller acks d once park returned nil.
func (b *Billing) park(ctx context.Context, pub *amqp.Channel, d amqp.Delivery, cause error) error {
	// TODO(lab): the person who opens the error queue sees a message and nothing else: not what went wrong, not where
	// it was handled, how often it was tried, or when it gave up. Say so in the diagnostic headers (HeaderError,
	// HeaderStack, HeaderAttempts, HeaderFailedAt), next to the message's own headers.
	msg := copyOf(d)
	msg.Headers[HeaderOriginalQueue] = b.Queue // where a replay sends it back
	return publishConfirmed(ctx, pub, b.ErrorQueue, msg)
}

func ack(d amqp.Delivery) error {
	if err := d.Ack(false); err != nil { // multiple=false
		return fmt.Errorf("ack %s: %w", d.MessageId, err)
	}
	return nil
}

// Handle charges the order in one BillOrder delivery, exactly once per message id. Its error wraps ErrMalformed,
// ErrInvalidOrder or ErrGatewayDown, so the caller can tell a permanent failure from a passing one.
func (b *Billing) Handle(ctx context.Context, d amqp.Delivery) error {
	var cmd shop.BillOrder
	if err := shop.Decode(d.Body, &cmd); err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if cmd.OrderID == "" || cmd.Cents <= 0 {
		return fmt.Errorf("%w: order %q for %d cents", ErrInvalidOrder, cmd.OrderID, cmd.Cents)
	}
	return pgx.BeginFunc(ctx, b.DB, func(tx pgx.Tx) error {
		seen, err := tx.Exec(ctx, `INSERT INTO processed (message_id) VALUES ($1) ON CONFLICT DO NOTHING`, d.MessageId)
		if err != nil {
			return fmt.Errorf("record message %s: %w", d.MessageId, err)
		}
		if seen.RowsAffected() == 0 {
			return nil // the inbox has it: this message was charged before
		}
		if err := b.Gateway.Charge(ctx, cmd.OrderID, cmd.Cents); err != nil {
			return fmt.Errorf("charge order %s: %w", cmd.OrderID, err)
		}
		_, err = tx.Exec(ctx, `INSERT INTO charges (message_id, order_id, cents) VALUES ($1, $2, $3)`,
			d.MessageId, cmd.OrderID, cmd.Cents)
		if err != nil {
			return fmt.Errorf("store charge for %s: %w", cmd.OrderID, err)
		}
		return nil
	})
}
