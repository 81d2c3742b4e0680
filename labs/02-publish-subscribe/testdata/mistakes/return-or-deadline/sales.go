// Mistake return-or-deadline: Sales waits for a return until the publish's deadline and calls a publish without one
// routed, so an order whose caller gives up early is reported published although nobody got it
// "No sleeping or fixed timers": the attendee waits on the context instead, which ends the same guess later, and
// makes every routed publish take the whole timeout.

package pubsub

import (
	"context"
	"fmt"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"msglabs/shared/shop"
)

// publishTimeout bounds one publish, including the wait for the broker's confirm.
const publishTimeout = 2 * time.Second

// Sales publishes the shop's OrderPlaced events. A Sales owns one channel, and a Channel is not safe for concurrent
// use: call PublishOrderPlaced from one goroutine at a time.
type Sales struct {
	ch       *amqp.Channel
	exchange string
	returns  <-chan amqp.Return // unroutable mandatory messages, drained after every publish
}

// NewSales opens Sales' publishing channel on conn (owned by the caller), puts it in confirm mode, listens for
// returned messages and declares the events exchange.
func NewSales(conn *amqp.Connection, names Names) (*Sales, error) {
	ch, err := conn.Channel()
	if err != nil {
		return nil, fmt.Errorf("open channel: %w", err)
	}
	// Buffered, and drained after each publish: the library gives up on a listener that does not take a return.
	returns := ch.NotifyReturn(make(chan amqp.Return, 1))
	exchange := names(EventsExchange)
	if err := DeclareEvents(ch, exchange); err != nil {
		return nil, err
	}
	return &Sales{ch: ch, exchange: exchange, returns: returns}, nil
}

// PublishOrderPlaced tells every subscriber that an order was placed. It returns nil once the broker has confirmed
// the event and routed it to at least one queue, and an error wrapping ErrUnroutable when no queue was bound for it.
func (s *Sales) PublishOrderPlaced(ctx context.Context, ev shop.OrderPlaced) error {
	body, err := shop.Encode(ev)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, publishTimeout)
	defer cancel()
	id := "placed-" + ev.OrderID
	err = s.ch.PublishWithContext(ctx,
		s.exchange,     // exchange: the shop's events
		OrderPlacedKey, // routing key: which event this is
		true,           // mandatory: return it to us if no queue is bound for it
		false,          // immediate
		amqp.Publishing{
			MessageId:    id,
			Type:         ev.MessageType(),
			ContentType:  shop.ContentType,
			DeliveryMode: amqp.Persistent, // written to disk in durable queues: survives a broker restart
			Body:         body,
		})
	if err != nil {
		return fmt.Errorf("publish OrderPlaced %s: %w", ev.OrderID, err)
	}
	// The broker sends basic.return before the confirm of the same message, so after the confirm a return is
	// either already waiting in s.returns or never coming.
	select {
	case r := <-s.returns:
		return fmt.Errorf("publish %s with key %q: %w (%d %s)", id, r.RoutingKey, ErrUnroutable, r.ReplyCode, r.ReplyText)
	case <-ctx.Done(): // no return before the publish's deadline: it was routed
		return nil
	}
}

// checkReturned reports ErrUnroutable if the broker returned the message with this id. It takes every return that
// is waiting, so none is left to be mistaken for a later publish's.
func (s *Sales) checkReturned(id string) error {
	var err error
	for {
		select {
		case r, open := <-s.returns:
			if !open { // the channel closed: no more returns will come
				return err
			}
			if r.MessageId == id {
				err = fmt.Errorf("publish %s with key %q: %w (%d %s)", id, r.RoutingKey, ErrUnroutable, r.ReplyCode, r.ReplyText)
			}
		default:
			return err
		}
	}
}
