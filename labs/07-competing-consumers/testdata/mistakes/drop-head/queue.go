// Mistake drop-head: the queue got a length limit but kept the default overflow, drop-head, so the broker silently throws the oldest orders away
// Why an attendee writes it: x-max-length is the documented way to bound a queue, and the overflow setting sits in another paragraph.

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
			"x-max-length": int64(MaxBacklog), // at most this many ready messages
		})
	if err != nil {
		return fmt.Errorf("declare queue %q: %w", queue, err)
	}
	return nil
}
