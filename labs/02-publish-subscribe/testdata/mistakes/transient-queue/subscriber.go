// Mistake transient-queue: each service gets a queue of its own, but declared transient, so the orders waiting in it
// while Billing restarts are lost if the broker restarts too
// The attendee writes the declare from memory of the tutorial, drops exclusive and autoDelete so the queue outlives
// its consumer, and leaves durable false: every test of a subscriber restart passes.

// Why this fix: a queue is a work list, not a notice board: each message in it goes to exactly one consumer. So
// every subscriber now declares a queue of its own, named after the service ("billing.order-placed"), and binds it
// to the topic exchange with its own binding; the exchange puts a copy of each event in every queue whose binding
// matches. Billing and Shipping each get every order, and a third subscriber can join without anyone else changing.
// This is one good answer, not the only one: the queue could also be declared by deployment tooling rather than by
// the service, as long as there is one per subscriber.

package pubsub

import (
	"context"
	"fmt"

	amqp "github.com/rabbitmq/amqp091-go"

	"msglabs/shared/shop"
)

// Subscriber is one service that wants OrderPlaced events: Billing charges the order, Shipping prepares the parcel.
type Subscriber struct {
	Service string // the subscribing service: "billing", "shipping"
	Binding string // the routing key pattern it subscribes with, e.g. "order.placed" or "order.*"
	Names   Names
	Handle  func(ctx context.Context, ev shop.OrderPlaced) error // the service's work for one event
}

// Subscription is a subscriber's registered consumer. It owns its channel, which is not safe for concurrent use:
// Serve it from one goroutine.
type Subscription struct {
	sub        *Subscriber
	ch         *amqp.Channel
	deliveries <-chan amqp.Delivery
}

// Subscribe declares what the subscriber needs on the broker (the exchange, a queue, its binding) and registers a
// consumer on a channel of its own opened on conn. When it returns, every OrderPlaced published from then on is
// routed to that queue. The consumer stops when ctx is done.
func (s *Subscriber) Subscribe(ctx context.Context, conn *amqp.Connection) (*Subscription, error) {
	ch, err := conn.Channel()
	if err != nil {
		return nil, fmt.Errorf("open channel: %w", err)
	}
	exchange := s.Names(EventsExchange)
	if err := DeclareEvents(ch, exchange); err != nil {
		return nil, err
	}
	// A queue of its own: a queue gives each message to one consumer, an exchange copies it to every bound queue.
	queue := s.Names(s.Service + ".order-placed")
	if err := declareAndBind(ch, queue, exchange, s.Binding); err != nil {
		return nil, err
	}
	deliveries, err := ch.ConsumeWithContext(ctx, queue,
		"",    // consumer tag: let the library choose
		false, // autoAck: we ack after the work is done
		false, // exclusive
		false, // noLocal
		false, // noWait
		nil)
	if err != nil {
		return nil, fmt.Errorf("consume %q: %w", queue, err)
	}
	return &Subscription{sub: s, ch: ch, deliveries: deliveries}, nil
}

// declareAndBind declares a durable queue and binds it to exchange with the routing key pattern binding.
func declareAndBind(ch *amqp.Channel, queue, exchange, binding string) error {
	_, err := ch.QueueDeclare(queue,
		false, // durable
		false, // autoDelete
		false, // exclusive
		false, // noWait
		nil)
	if err != nil {
		return fmt.Errorf("declare queue %q: %w", queue, err)
	}
	err = ch.QueueBind(queue, binding, exchange,
		false, // noWait
		nil)
	if err != nil {
		return fmt.Errorf("bind queue %q to %q with %q: %w", queue, exchange, binding, err)
	}
	return nil
}

// Serve handles the subscription's events until its consumer stops, acking each one after Handle succeeded. It
// closes the subscription's channel when it returns.
func (s *Subscription) Serve(ctx context.Context) error {
	defer s.ch.Close()
	for d := range s.deliveries {
		var ev shop.OrderPlaced
		if err := shop.Decode(d.Body, &ev); err != nil {
			_ = d.Reject(false) // requeue=false: a malformed event will never parse (lab 9 does better)
			continue
		}
		if err := s.sub.Handle(ctx, ev); err != nil {
			_ = d.Nack(false, true) // multiple=false, requeue=true: try again (lab 8 adds a pause)
			continue
		}
		if err := d.Ack(false); err != nil {
			return fmt.Errorf("ack %s: %w", d.MessageId, err)
		}
	}
	return nil
}
