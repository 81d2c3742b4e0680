package poison

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// You do not need to edit this file: it holds what Billing, the replay tool and the tests agree on, and the queues of
// lab 8's broker-held retries.

// Schema is Billing's inbox (lab 5: one row per message id it has handled) and its ledger of charges.
const Schema = `CREATE TABLE processed (
	message_id text PRIMARY KEY
);
CREATE TABLE charges (
	message_id text PRIMARY KEY,
	order_id   text NOT NULL,
	cents      int  NOT NULL
)`

// Headers a message carries in the error queue, so an operator can see what went wrong and the replay tool knows where
// the message came from.
const (
	HeaderError         = "x-error"          // the error text, e.g. "decode BillOrder: invalid character …"
	HeaderStack         = "x-error-stack"    // a short stack summary of where the failure was handled
	HeaderOriginalQueue = "x-original-queue" // the queue the message failed on: where a replay sends it back
	HeaderAttempts      = "x-attempts"       // how many times it was tried before it was parked
	HeaderFailedAt      = "x-failed-at"      // when it was parked, RFC 3339
)

// Why a message failed. Billing wraps every failure in one of these, so the consumer loop can decide what to do.
var (
	// ErrMalformed: the body cannot be decoded. Trying again will decode the same bytes the same way.
	ErrMalformed = errors.New("malformed message")
	// ErrInvalidOrder: the message decoded, but the order can never be charged (no order id, a negative amount).
	ErrInvalidOrder = errors.New("invalid order")
	// ErrGatewayDown: the payment gateway did not answer. It may well answer in a moment.
	ErrGatewayDown = errors.New("payment gateway unavailable")
)

// Gateway is the payment provider Billing charges cards with (a third party; the tests use an in-memory fake).
// Charge returns an error wrapping ErrGatewayDown when the provider is unavailable.
type Gateway interface {
	Charge(ctx context.Context, orderID string, cents int) error
}

// Lab 8's retry schedule: wait 30 ms before the first delayed retry, three times as long before each next one (30,
// 90, 270 ms), each wait moved by up to ±20%; after the third delayed retry, the message is parked.
const (
	FirstRetryDelay = 30 * time.Millisecond // the wait before the first delayed retry
	DelayGrowth     = 3                     // each next wait is this many times the one before
	DelayedRetries  = 3                     // how many delayed retries a message gets before the error queue
	Jitter          = 0.2                   // each wait is moved randomly by up to this share of itself, either way
)

// RetriesHeader counts how many delayed retries a message has had (missing on its first delivery).
const RetriesHeader = "billing-retries"

// RetryDelay is the wait before delayed retry number n (1 is the first), without jitter.
func RetryDelay(n int) time.Duration {
	d := FirstRetryDelay
	for i := 1; i < n; i++ {
		d *= DelayGrowth
	}
	return d
}

// DelayQueue names the queue where a message waits for its delayed retry number n (lab 8: one queue per wait).
func DelayQueue(queue string, n int) string { return fmt.Sprintf("%s.delay-%d", queue, n) }

// DeclareQueues declares Billing's work queue, its delay queues (no consumer; an expired message is dead-lettered
// back to the work queue) and its error queue, all durable. Declaring is idempotent.
func DeclareQueues(ch *amqp.Channel, queue, errorQueue string) error {
	if err := declareQueue(ch, queue, nil); err != nil {
		return err
	}
	for n := 1; n <= DelayedRetries; n++ {
		err := declareQueue(ch, DelayQueue(queue, n), amqp.Table{
			"x-dead-letter-exchange":    "",    // the default exchange…
			"x-dead-letter-routing-key": queue, // …routes an expired message back to the work queue
		})
		if err != nil {
			return err
		}
	}
	return declareQueue(ch, errorQueue, nil)
}

func declareQueue(ch *amqp.Channel, queue string, args amqp.Table) error {
	_, err := ch.QueueDeclare(queue,
		true,  // durable
		false, // autoDelete
		false, // exclusive
		false, // noWait
		args)
	if err != nil {
		return fmt.Errorf("declare queue %q: %w", queue, err)
	}
	return nil
}

// retriesOf reads RetriesHeader: how many delayed retries the message has had (0 without the header). The broker
// hands an integer header back as an int32 or an int64, whichever the publisher sent.
func retriesOf(h amqp.Table) int {
	switch v := h[RetriesHeader].(type) {
	case int32:
		return int(v)
	case int64:
		return int(v)
	}
	return 0
}

// withJitter returns d moved randomly by up to ±Jitter of itself.
func withJitter(d time.Duration) time.Duration {
	spread := (rand.Float64()*2 - 1) * Jitter // in [-Jitter, +Jitter)
	return d + time.Duration(spread*float64(d))
}

// copyOf builds a persistent publishing of the same message as d: its body, its identity (MessageId, CorrelationId,
// Type, ContentType) and its headers, in a fresh map (d's stays untouched), ready to be published again.
func copyOf(d amqp.Delivery) amqp.Publishing {
	headers := amqp.Table{}
	for k, v := range d.Headers {
		headers[k] = v
	}
	return amqp.Publishing{
		MessageId:     d.MessageId,
		CorrelationId: d.CorrelationId,
		Type:          d.Type,
		ContentType:   d.ContentType,
		DeliveryMode:  amqp.Persistent,
		Headers:       headers,
		Body:          d.Body,
	}
}

// publishTimeout caps the wait for the broker to confirm one message Billing publishes itself.
const publishTimeout = 5 * time.Second

// publishConfirmed publishes msg to queue through the default exchange on ch (in confirm mode) and waits for the
// broker's confirm.
func publishConfirmed(ctx context.Context, ch *amqp.Channel, queue string, msg amqp.Publishing) error {
	ctx, cancel := context.WithTimeout(ctx, publishTimeout)
	defer cancel()
	dc, err := ch.PublishWithDeferredConfirmWithContext(ctx,
		"",    // exchange: the default exchange routes by queue name
		queue, // routing key
		false, // mandatory
		false, // immediate
		msg)
	if err != nil {
		return fmt.Errorf("publish %s to %q: %w", msg.MessageId, queue, err)
	}
	ok, err := dc.WaitContext(ctx)
	if err != nil {
		return fmt.Errorf("wait for the confirm of %s in %q: %w", msg.MessageId, queue, err)
	}
	if !ok {
		return fmt.Errorf("the broker refused %s in %q", msg.MessageId, queue)
	}
	return nil
}
