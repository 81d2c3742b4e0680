package pubsub

import (
	"context"
	"fmt"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"msglabs/shared/shop"
)

// publishTimeout bounds one publish.
const publishTimeout = 2 * time.Second

// Sales publishes the shop's OrderPlaced events. A Sales owns one channel, and a Channel is not safe for concurrent
// use: call PublishOrderPlaced from one goroutine at a time.
type Sales struct {
	ch       *amqp.Channel
	exchange string
}

// NewSales opens Sales' publishing channel on conn (owned by the caller) and declares the events exchange.
func NewSales(conn *amqp.Connection, names Names) (*Sales, error) {
	ch, err := conn.Channel()
	if err != nil {
		return nil, fmt.Errorf("open channel: %w", err)
	}
	// TODO(lab): whatever Sales needs on its channel to hear back from the broker about an event (see
	// PublishOrderPlaced), set it up once, here.
	exchange := names(EventsExchange)
	if err := DeclareEvents(ch, exchange); err != nil {
		return nil, err
	}
	return &Sales{ch: ch, exchange: exchange}, nil
}

// PublishOrderPlaced tells every subscriber that an order was placed. It returns nil once the event is published.
func (s *Sales) PublishOrderPlaced(ctx context.Context, ev shop.OrderPlaced) error {
	body, err := shop.Encode(ev)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, publishTimeout)
	defer cancel()
	// TODO(lab): if no queue is bound for "order.placed" (no subscriber yet, or a typo in a binding), the exchange
	// drops the event and this publish still succeeds: nobody ever finds out. Make the broker tell Sales, and report
	// such an event as ErrUnroutable. Whatever Sales waits for, it must know when to stop waiting, on a slow day too.
	err = s.ch.PublishWithContext(ctx,
		s.exchange,     // exchange: the shop's events
		OrderPlacedKey, // routing key: which event this is
		false,          // mandatory
		false,          // immediate
		amqp.Publishing{
			MessageId:    "placed-" + ev.OrderID,
			Type:         ev.MessageType(),
			ContentType:  shop.ContentType,
			DeliveryMode: amqp.Persistent, // written to disk in durable queues: survives a broker restart
			Body:         body,
		})
	if err != nil {
		return fmt.Errorf("publish OrderPlaced %s: %w", ev.OrderID, err)
	}
	return nil
}
