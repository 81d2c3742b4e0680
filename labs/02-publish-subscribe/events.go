package pubsub

import (
	"errors"
	"fmt"

	amqp "github.com/rabbitmq/amqp091-go"
)

// You do not need to edit this file: it holds what the publisher and every subscriber share.

// The shop's broker names. Events go to one topic exchange, and the routing key says which event it is, so a
// subscriber can bind to exactly the events it wants ("order.placed") or to a pattern ("order.*").
const (
	EventsExchange = "shop.events"  // the topic exchange every event is published to
	OrderPlacedKey = "order.placed" // the routing key of OrderPlaced
)

// Names turns one of the shop's broker names ("shop.events", "billing.order-placed") into the name used on this
// broker. In production it returns the name as it is; each test run adds a prefix of its own, so that thirty
// attendees can share one broker.
type Names func(name string) string

// ErrUnroutable means the broker had no queue to route an event to, and dropped it: nobody will ever see it.
var ErrUnroutable = errors.New("unroutable: no queue is bound for it")

// DeclareEvents declares the shop's events exchange: a durable topic exchange. Declaring is idempotent, so the
// publisher and every subscriber may do it; whoever comes first creates it.
func DeclareEvents(ch *amqp.Channel, exchange string) error {
	err := ch.ExchangeDeclare(exchange,
		amqp.ExchangeTopic, // kind: routes by matching the routing key against each binding's pattern
		true,               // durable
		false,              // autoDelete
		false,              // internal
		false,              // noWait
		nil)
	if err != nil {
		return fmt.Errorf("declare exchange %q: %w", exchange, err)
	}
	return nil
}
