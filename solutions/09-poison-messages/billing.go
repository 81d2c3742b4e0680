//go:build solution

// Why this fix: a failure is either permanent (the body will never decode, the order can never be charged) or
// transient (the payment gateway is down for a moment). Billing now classifies: a permanent failure goes straight to
// the error queue, a transient one is retried a few times first, and either way the message is parked as it was, with
// headers that say what went wrong, where it came from, how often it was tried and when, and only then acked. Nothing
// loops at the head of the queue and nothing vanishes; a human can read the error queue and replay a message once
// the cause is fixed. This is one good answer, not the only one: lab 8's retries with backoff (delay queues) would
// let the gateway recover for longer without holding the message, and a dead-letter exchange on the queue could do
// the move, at the cost of the diagnostic headers.

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
	// maxAttempts is how often Billing tries a message that fails for a passing reason before it parks it.
	maxAttempts = 3
	// retryPause is the wait between two attempts (lab 8 teaches backing off properly).
	retryPause = 20 * time.Millisecond
	// parkTimeout caps the wait for the broker to confirm a message parked in the error queue.
	parkTimeout = 5 * time.Second
	// stackFrames is how many frames the stack summary in HeaderStack keeps.
	stackFrames = 8
)

// Billing charges orders: it takes BillOrder commands from its queue, charges the card through the Gateway and writes
// the charge, once per message id (its inbox). A message that cannot be processed is parked in ErrorQueue with a
// diagnosis. A Billing is safe for concurrent use; Consume owns its channels.
type Billing struct {
	DB         *pgxpool.Pool
	Gateway    Gateway
	Queue      string // BillOrder commands
	ErrorQueue string // where messages that cannot be processed are parked for a human
}

// Consume takes BillOrder commands until ctx is done, settling each one after handling it. It uses two channels on
// conn, both owned by this goroutine: one consumes, the other (in confirm mode) parks failed messages.
func (b *Billing) Consume(ctx context.Context, conn *amqp.Connection) error {
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open channel: %w", err)
	}
	defer ch.Close()
	park, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open channel: %w", err)
	}
	defer park.Close()
	if err := park.Confirm(false); err != nil { // noWait=false
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
		attempts, err := b.handleWithRetry(ctx, d)
		if ctx.Err() != nil {
			return nil // shutting down: the broker requeues what we did not settle
		}
		if err := b.settle(ctx, park, d, attempts, err); err != nil {
			return err
		}
	}
	return nil
}

// permanent reports whether err will come back however often the message is tried.
func permanent(err error) bool {
	return errors.Is(err, ErrMalformed) || errors.Is(err, ErrInvalidOrder)
}

// handleWithRetry handles d, trying again after a transient failure, up to maxAttempts in all. It returns how many
// attempts it made and the last error.
func (b *Billing) handleWithRetry(ctx context.Context, d amqp.Delivery) (int, error) {
	for attempt := 1; ; attempt++ {
		err := b.Handle(ctx, d)
		if err == nil || permanent(err) || attempt == maxAttempts {
			return attempt, err
		}
		select {
		case <-ctx.Done():
			return attempt, ctx.Err()
		case <-time.After(retryPause):
		}
	}
}

// settle tells the broker what became of a delivery: ack when it was handled; otherwise park it in the error queue
// first, then ack. A crash between the two leaves the message in both queues: the inbox makes that harmless.
func (b *Billing) settle(ctx context.Context, park *amqp.Channel, d amqp.Delivery, attempts int, handleErr error) error {
	if handleErr != nil {
		if err := b.park(ctx, park, d, attempts, handleErr); err != nil {
			return err
		}
	}
	return ack(d)
}

// park publishes an unchanged copy of d (same MessageId, type and body) to the error queue with the diagnosis in its
// headers, and waits for the broker's confirm.
func (b *Billing) park(ctx context.Context, ch *amqp.Channel, d amqp.Delivery, attempts int, cause error) error {
	headers := amqp.Table{}
	for k, v := range d.Headers {
		headers[k] = v
	}
	headers[HeaderError] = cause.Error()
	headers[HeaderStack] = stackSummary()
	headers[HeaderOriginalQueue] = b.Queue
	headers[HeaderAttempts] = int32(attempts)
	headers[HeaderFailedAt] = time.Now().UTC().Format(time.RFC3339)
	ctx, cancel := context.WithTimeout(ctx, parkTimeout)
	defer cancel()
	dc, err := ch.PublishWithDeferredConfirmWithContext(ctx,
		"",           // exchange: the default exchange routes by queue name
		b.ErrorQueue, // routing key
		false,        // mandatory
		false,        // immediate
		amqp.Publishing{
			MessageId:     d.MessageId,
			CorrelationId: d.CorrelationId,
			Type:          d.Type,
			ContentType:   d.ContentType,
			DeliveryMode:  amqp.Persistent,
			Headers:       headers,
			Body:          d.Body,
		})
	if err != nil {
		return fmt.Errorf("park %s in %q: %w", d.MessageId, b.ErrorQueue, err)
	}
	ok, err := dc.WaitContext(ctx)
	if err != nil {
		return fmt.Errorf("wait for the confirm of parked %s: %w", d.MessageId, err)
	}
	if !ok {
		return fmt.Errorf("the broker refused parked %s", d.MessageId)
	}
	return nil
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
