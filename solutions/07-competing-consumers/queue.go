//go:build solution

// Why this fix: Billing's queue is bounded with x-max-length and x-overflow=reject-publish, so a burst beyond
// MaxBacklog is neither piled up nor silently dropped: the broker refuses the newest publish with a negative confirm,
// which Sales turns into back-pressure (sales.go). The default overflow, drop-head, would throw the oldest order away
// without telling anyone. This is one good answer, not the only one: a quorum queue takes the same arguments, and
// x-max-length-bytes bounds memory instead of count.

package competing

import (
	"fmt"

	amqp "github.com/rabbitmq/amqp091-go"
)

// DeclareBillingQueue declares Billing's durable queue. Billing declares it at start-up and Sales before sending;
// both must declare it with the same arguments (a mismatch closes the channel with 406 PRECONDITION_FAILED).
func DeclareBillingQueue(ch *amqp.Channel, queue string) error {
	_, err := ch.QueueDeclare(queue,
		true,  // durable
		false, // autoDelete
		false, // exclusive
		false, // noWait
		amqp.Table{
			"x-max-length": int64(MaxBacklog), // at most this many ready messages (unacked ones do not count)
			"x-overflow":   "reject-publish",  // refuse the newest (a nack to a confirming publisher), never drop
		})
	if err != nil {
		return fmt.Errorf("declare queue %q: %w", queue, err)
	}
	return nil
}
