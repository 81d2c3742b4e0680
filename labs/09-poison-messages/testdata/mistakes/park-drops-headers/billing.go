// Mistake park-drops-headers: the parked copy carries only Billing's diagnosis, not the message's own headers, so a replay is a different message downstream
// Why an attendee writes it: the README lists five x- headers; a fresh header table with exactly those looks tidy.

package poison

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	amqp "github.com/rabbitmq/amqp091-go"

	"msglabs/shared/shop"
)

const (
	// prefetch is how many unacked BillOrder commands Billing holds at once: one, so orders are charged in turn.
	prefetch = 1
	// stackFrames is how many frames the stack summary in HeaderStack keeps.
	stackFrames = 8
)

// Billing charges orders: it takes BillOrder commands from its queue, charges the card through the Gateway and writes
// the charge, once per message id (its inbox). A message that fails for good is parked in ErrorQueue at once, with
// its diagnosis; one that fails for a passing reason is retried later through the broker (lab 8), and parked after
// its last retry. A Billing is safe for concurrent use; Consume owns its channels.
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

// settle tells the broker what became of a delivery: ack when it was handled; park a permanent failure at once and
// hand a passing one to lab 8's delayed retries (which park it after the last); ack only once the broker has
// confirmed the copy. A crash in between leaves the message in both places: the inbox makes that harmless.
func (b *Billing) settle(ctx context.Context, pub *amqp.Channel, d amqp.Delivery, handleErr error) error {
	switch {
	case handleErr == nil:
	case permanent(handleErr):
		if err := b.park(ctx, pub, d, handleErr); err != nil {
			return err
		}
	default:
		if err := b.retryLater(ctx, pub, d, handleErr); err != nil {
			return err
		}
	}
	return ack(d)
}

// permanent reports whether err will come back however often, and however late, the message is tried.
func permanent(err error) bool {
	return errors.Is(err, ErrMalformed) || errors.Is(err, ErrInvalidOrder)
}

// park publishes a copy of d to the error queue, for a person to look at and replay, and waits for the broker's
// confirm: the same message, its own headers kept, with the diagnosis added. The caller acks d once park returned nil.
func (b *Billing) park(ctx context.Context, pub *amqp.Channel, d amqp.Delivery, cause error) error {
	msg := copyOf(d)
	msg.Headers = amqp.Table{HeaderOriginalQueue: b.Queue} // the diagnosis, and nothing else
	msg.Headers[HeaderError] = cause.Error()
	msg.Headers[HeaderStack] = stackSummary()
	msg.Headers[HeaderAttempts] = int32(retriesOf(d.Headers) + 1) // the delayed retries, and the first try
	msg.Headers[HeaderFailedAt] = time.Now().UTC().Format(time.RFC3339)
	return publishConfirmed(ctx, pub, b.ErrorQueue, msg)
}

// stackSummary names the functions that were running when the failure was handled, innermost first, one per line.
func stackSummary() string {
	pcs := make([]uintptr, stackFrames)
	n := runtime.Callers(3, pcs) // skip Callers, stackSummary and park
	frames := runtime.CallersFrames(pcs[:n])
	var lines []string
	for {
		f, more := frames.Next()
		lines = append(lines, fmt.Sprintf("%s (%s:%d)", f.Function, f.File, f.Line))
		if !more {
			break
		}
	}
	return strings.Join(lines, "\n")
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
