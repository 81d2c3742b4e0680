package poison

import (
	"context"
	"errors"
	"fmt"

	amqp "github.com/rabbitmq/amqp091-go"
)

// You do not need to edit this file: it holds what Billing, the replay tool and the tests agree on.

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

// DeclareQueues declares Billing's work queue and its error queue, both durable. Declaring is idempotent.
func DeclareQueues(ch *amqp.Channel, queue, errorQueue string) error {
	for _, q := range []string{queue, errorQueue} {
		_, err := ch.QueueDeclare(q,
			true,  // durable
			false, // autoDelete
			false, // exclusive
			false, // noWait
			nil)
		if err != nil {
			return fmt.Errorf("declare queue %q: %w", q, err)
		}
	}
	return nil
}
