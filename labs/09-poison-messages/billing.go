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
// the charge, once per message id (its inbox). A Billing is safe for concurrent use; Consume owns its channels.
type Billing struct {
	DB         *pgxpool.Pool
	Gateway    Gateway
	Queue      string // BillOrder commands
	ErrorQueue string // where messages that cannot be processed are parked for a human
}

// Consume takes BillOrder commands until ctx is done, settling each one after handling it.
func (b *Billing) Consume(ctx context.Context, conn *amqp.Connection) error {
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open channel: %w", err)
	}
	defer ch.Close()
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
		// TODO(lab): a passing failure (ErrGatewayDown) deserves a few more tries before settle gives up on it; and
		// settle needs a channel in confirm mode to park messages on: open it above (this goroutine owns both).
		err := b.Handle(ctx, d)
		if ctx.Err() != nil {
			return nil // shutting down: the broker requeues what we did not settle
		}
		if err := b.settle(d, err); err != nil {
			return err
		}
	}
	return nil
}

// settle tells the broker what became of a delivery: ack when it was handled, otherwise…
func (b *Billing) settle(d amqp.Delivery, handleErr error) error {
	if handleErr == nil {
		return ack(d)
	}
	// TODO(lab): not every failure is worth another try. A message that cannot be decoded fails the same way
	// forever: requeued, it comes straight back to the head of the queue and the orders behind it starve. And a
	// rejected message is simply dropped: nobody can ever see it, ask why, or replay it. Classify the failure:
	// permanent (ErrMalformed, ErrInvalidOrder) → publish a copy to b.ErrorQueue with the diagnostic headers
	// (HeaderError, HeaderStack, HeaderOriginalQueue, HeaderAttempts, HeaderFailedAt), wait for the confirm, then ack;
	// transient (ErrGatewayDown) → try again a few times, and park it in the error queue the same way if it still fails.
	if errors.Is(handleErr, ErrInvalidOrder) {
		if err := d.Reject(false); err != nil { // requeue=false: this order can never be charged, drop it
			return fmt.Errorf("reject %s: %w", d.MessageId, err)
		}
		return nil
	}
	if err := d.Nack(false, true); err != nil { // multiple=false, requeue=true: it may work next time
		return fmt.Errorf("nack %s: %w", d.MessageId, err)
	}
	return nil
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
