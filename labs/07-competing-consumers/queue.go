package competing

import (
	"fmt"

	amqp "github.com/rabbitmq/amqp091-go"
)

// DeclareBillingQueue declares Billing's durable queue. Billing declares it at start-up and Sales before sending;
// both must declare it with the same arguments (a mismatch closes the channel with 406 PRECONDITION_FAILED).
func DeclareBillingQueue(ch *amqp.Channel, queue string) error {
	// TODO(lab): the queue has no bound, so a burst piles up here for as long as Sales can send, and nobody hears
	// about it until the broker runs out of memory. The shop allows MaxBacklog waiting orders: what should the broker
	// do with the next one? (Dropping an order, the oldest or the newest, is never an answer for a command.)
	_, err := ch.QueueDeclare(queue,
		true,  // durable
		false, // autoDelete
		false, // exclusive
		false, // noWait
		nil)   // arguments
	if err != nil {
		return fmt.Errorf("declare queue %q: %w", queue, err)
	}
	return nil
}
